"""Links in a model's reply: found with a tokeniser and `urllib.parse`, and removed unless
the article holds them. Pure functions, no I/O.

Links the article does not hold are removed, so an injected instruction cannot make the
answer fetch or show an attacker's address: HTML tags and comments always; Markdown images,
links and `<...>` autolinks unless their target is in the article (a link keeps its words);
and, in the remaining text, every link-like token found by a tokeniser and checked with
`urllib.parse`: `scheme://...` of any scheme, `mailto:`, `javascript:`, `vbscript:`, `data:`,
`file:` and `blob:` targets, protocol-relative `//host/path`, `www.` names, bare e-mail
addresses, `host.tld/path`, `host.tld` (for a known top-level domain) and `1.2.3.4:port`.
Tokens are NFKC-normalised before they are checked, so full-width `ｈｔｔｐｓ://` and other
compatibility forms count as what they render as. A token is kept only when the article holds
it (after the same normalisation) as a whole token, not as part of a longer address.
HTML tags go, and the text inside `<script>` and `<style>` with them. The dots that IDNA
reads as a full stop (`。` U+3002, `．` U+FF0E, `｡` U+FF61) count as `.`, so `evil。example`
is the host `evil.example`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import urlsplit

# Markdown: an optional title after the target, and one level of parentheses inside it.
_TARGET = r"\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
_IMAGE = re.compile(r"!\[[^\[\]\n]*\]" + _TARGET)
_LINK = re.compile(r"\[([^\[\]\n]*)\]" + _TARGET)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s]+)>")
# Tags may span lines (`<img\nsrc=x onerror=...>` is still a tag to a browser).
_TAG = re.compile(r"<!--.*?(?:-->|\Z)|<[!?/]?[A-Za-z][^<>]*>", re.DOTALL)
# A script's or style sheet's text is code, not words of the answer: it goes with its tags.
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE)
# The full stops IDNA reads as "." in a host name (NFKC leaves U+3002 as it is, and turns
# U+FF61 into it).
_IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

# Schemes that act without a "//": a page's script, a mail client, inline or local content.
_ACTIVE_SCHEMES = frozenset({"mailto", "javascript", "vbscript", "data", "file", "blob"})
_EMAIL_LOCAL = r"\w.!#$%&'*+/=?^`{|}~\-"
# The link-like tokens, in NFKC text, one pattern a kind; each is searched on its own, so a
# token one of them finds cannot hide another that overlaps it ("post@nrk.no://x"). Each
# starts only where its run of characters starts (the lookbehinds), which keeps the scan
# linear in the text's length.
_CANDIDATES = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("scheme", r"(?<![a-z0-9+.\-])[a-z0-9+.\-]*://\S*"),
        ("active", r"(?<![a-z])(?:" + "|".join(sorted(_ACTIVE_SCHEMES)) + r"):\S+"),
        ("email", r"(?<![" + _EMAIL_LOCAL + r"])[" + _EMAIL_LOCAL + r"]+@[\w\-]+(?:\.[\w\-]+)+"),
        ("relative", r"//[\w\-]+\.[\w\-]\S*"),
        ("www", r"(?<![\w.\-])www\.[\w\-]\S*"),
        ("ip", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5}|[/?#])\S*"),
        ("host", r"(?<![\w.@\-])(?:[\w\-]+\.)+[\w\-]+(?::\d{1,5})?(?:[/?#]\S*)?"),
    )
)
_TRAILING = ".,;:!?'\")]}*_~»”’"
# A bare name without a path counts as a link only under a top-level domain people use, so
# that glued prose ("f.eks", "kl.10") is not mistaken for one.
_TLDS = frozenset(
    """
com net org info biz edu gov mil int name pro aero coop museum mobi asia tel travel jobs cat
xxx app dev io ai co me tv ly gg sh to cc ws xyz online site top club shop store tech blog
news live link click page web cloud one art fun icu vip win bid loan work email today world
space website zip mov example test invalid localhost local onion arpa tld
ac ad ae af ag al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt
bw by bz ca cd cf cg ch ci ck cl cm cn cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es
et eu fi fj fk fm fo fr ga gd ge gf gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu
id ie il im in iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls
lt lu lv ma mc md mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl
no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se
sg si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn tr tt tw tz ua ug
uk us uy uz va vc ve vg vi vn vu wf ye yt za zm zw
""".split()
)
# Norwegian abbreviations that read like a host under a country code.
_ABBREVIATIONS = frozenset({"f.kr", "e.kr", "mill.kr", "mrd.kr", "m.fl", "bl.a", "f.eks"})
_LINK_HINTS = frozenset(":@./")
_MAX_PASSES = 50  # each pass that changes the text shortens it; this only bounds a bug


def _fold(text: str) -> str:
    """NFKC, with IDNA's full stops as "."."""
    return unicodedata.normalize("NFKC", text).translate(_IDNA_DOTS)


@functools.lru_cache(maxsize=8)
def _normalised(article_text: str) -> str:
    # the streaming view checks every prefix of a reply against the same article
    return _fold(article_text).casefold()


def _held(candidate: str, article_text: str) -> bool:
    """Whether the article holds `candidate` (NFKC, case-folded) as a whole name: not
    glued to more of a name on either side, so `evil.example` is not held by
    `notevil.example` and `https://a.example` not by `https://a.example.evil` (a path
    may follow: the article's `https://a.example/x` holds `https://a.example`)."""
    if not candidate or not article_text:
        return False
    return _held_normalised(_fold(candidate).casefold(), article_text)


def _name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@functools.lru_cache(maxsize=4096)
def _held_normalised(needle: str, article_text: str) -> bool:
    # str.find, not a regex: the streaming view asks this for every prefix of a reply, and
    # a regex that starts with a lookbehind scans a 1 MB article character by character
    hay = _normalised(article_text)
    i = hay.find(needle)
    while i != -1:
        before = hay[i - 1] if i else " "
        after = hay[i + len(needle) : i + len(needle) + 2]
        glued_before = _name_char(before) or before in ".-@"
        glued_after = bool(after) and (
            _name_char(after[0])
            or after[0] in "-~%@"
            or (after[0] in ".:" and len(after) > 1 and _name_char(after[1]))
        )
        if not glued_before and not glued_after:
            return True
        i = hay.find(needle, i + 1)
    return False


def _trim(candidate: str) -> str:
    """A token without the punctuation that ends the sentence around it (but keeping a
    closing parenthesis that closes one inside the token)."""
    while candidate and candidate[-1] in _TRAILING:
        if candidate[-1] == ")" and candidate.count("(") >= candidate.count(")"):
            break
        candidate = candidate[:-1]
    return candidate


def _is_link(kind: str, token: str) -> bool:
    """Whether a token the tokeniser found is an address (its host read by urllib.parse)."""
    if kind in ("scheme", "active", "email", "relative", "www", "ip"):
        return True
    # host[:port][/path]: a path makes it an address under any alphabetic top-level domain;
    # a bare name needs a top-level domain people use
    try:
        parts = urlsplit("//" + token)
        host = parts.hostname or ""
    except ValueError:
        return True  # not even a host to urllib: remove rather than guess
    has_path = bool(parts.path or parts.query or parts.fragment)
    labels = host.split(".")
    if len(labels) < 2 or not all(labels):
        return False
    tld = labels[-1]
    if not (tld.isalpha() and len(tld) >= 2) and not tld.startswith("xn--"):
        return False
    if has_path:
        return True
    if token.casefold() in _ABBREVIATIONS or tld not in _TLDS:
        return False
    # "kom.De": a missing space before a capitalised two-letter word, not a host
    written_tld = token.split(":")[0].rsplit(".", 1)[-1]
    return not (len(labels) == 2 and len(tld) == 2 and written_tld.istitle())


def find_links(text: str) -> list[tuple[int, int, str]]:
    """The link-like tokens of `text`: (start, end, token), the token NFKC-normalised, in
    order and not overlapping (overlapping finds are merged into one). A whitespace-separated
    chunk that NFKC changes is given whole when it holds a link: offsets into its NFKC form
    are not offsets into `text`."""
    found: list[tuple[int, int, str]] = []
    for chunk in re.finditer(r"\S+", text):
        raw = chunk.group(0)
        if not _LINK_HINTS.intersection(raw) and raw.isascii():
            continue  # the common case: a plain word
        folded = _fold(raw)
        spans: list[tuple[int, int]] = []
        for kind, pattern in _CANDIDATES:
            for match in pattern.finditer(folded):
                token = _trim(match.group(0))
                if token and _is_link(kind, token):
                    spans.append((match.start(), match.start() + len(token)))
        if not spans:
            continue
        spans.sort()
        merged = [spans[0]]
        for start, end in spans[1:]:
            if start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        if folded != raw:
            found.append((chunk.start(), chunk.end(), folded[merged[0][0] : merged[-1][1]]))
            continue
        found.extend(
            (chunk.start() + start, chunk.start() + end, folded[start:end]) for start, end in merged
        )
    return found


def _strip_tokens(text: str, article_text: str) -> str:
    """Remove the link-like tokens of `text` that the article does not hold."""
    out: list[str] = []
    last = 0
    for start, end, token in find_links(text):
        if _held(token, article_text):
            continue
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    return "".join(out)


def _strip_once(text: str, article_text: str) -> str:
    def image(m: re.Match[str]) -> str:
        return m.group(0) if _held(m.group(1), article_text) else ""

    def link(m: re.Match[str]) -> str:
        target = m.group(2)
        scheme = target.split(":", 1)[0].casefold() if ":" in target else ""
        # a script or inline-content target never stays clickable, held or not
        if _held(target, article_text) and scheme not in _ACTIVE_SCHEMES - {"mailto"}:
            return m.group(0)
        return m.group(1)

    def autolink(m: re.Match[str]) -> str:
        return m.group(1) if _held(m.group(1), article_text) else ""

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(autolink, text)
    text = _TAG.sub("", _SCRIPT.sub("", text))
    return _strip_tokens(text, article_text)


def strip_links(text: str, article_text: str = "") -> str:
    """Remove HTML tags, and the Markdown images, links, autolinks and link-like tokens
    whose target `article_text` does not hold (a link keeps its words). Repeated until
    nothing changes, so that a removal cannot join two halves into a new link."""
    for _ in range(_MAX_PASSES):
        stripped = _strip_once(text, article_text)
        if stripped == text:
            break
        text = stripped
    return text
