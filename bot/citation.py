"""Citation markers in a model's reply: parsed, checked, renumbered; links filtered out.

Pure functions, no I/O. A model is told to cite the numbered sentences it was given as `[n]`;
whatever it writes, only markers that point at one of those sentences survive, renumbered
1, 2, ... in order of first appearance, so that the answer's `[n]` always matches the n-th
citation shown. A bracket of ten or more digits is never a citation and is dropped.

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
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

# A bracket holding only numbers and separators: [1], [1, 2], [1][2], [^3], [2-4]. Any number
# of digits matches, so that a long number is recognised as a (never valid) marker and dropped
# rather than left in the text.
# (Each leading run starts where its run starts, the lookbehinds, so that a long run of
# spaces or brackets is scanned once, not once per character.)
_MARKER = re.compile(
    r"(?<![ \t])[ \t]*\[\^?\s*((?:[\-–]\s*)?[0-9]+(?:\s*[,;\-–]\s*[0-9]+)*)\s*\]")
_NUMBER_OR_DASH = re.compile(r"[0-9]+|[\-–]")
_MAX_DIGITS = 9  # a marker number with more digits is no sentence (and is never converted)
_MAX_RANGE = 20  # a longer "[a-b]" is not a citation range worth expanding
_SHOWN_MARKER = re.compile(r"\[[1-9][0-9]{0,8}\]")

# Reasoning models (qwen3, deepseek-r1 on Ollama) may put their thinking in the content; it is
# not the answer, and an unfinished block (still streaming) hides everything after it.
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)

# Markdown: an optional title after the target, and one level of parentheses inside it.
_TARGET = r"\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
_IMAGE = re.compile(r"!\[[^\[\]\n]*\]" + _TARGET)
_LINK = re.compile(r"\[([^\[\]\n]*)\]" + _TARGET)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s]+)>")
# Tags may span lines (`<img\nsrc=x onerror=...>` is still a tag to a browser).
_TAG = re.compile(r"<!--.*?(?:-->|\Z)|<[!?/]?[A-Za-z][^<>]*>", re.DOTALL)

# Schemes that act without a "//": a page's script, a mail client, inline or local content.
_ACTIVE_SCHEMES = frozenset({"mailto", "javascript", "vbscript", "data", "file", "blob"})
_EMAIL_LOCAL = r"\w.!#$%&'*+/=?^`{|}~\-"
# The link-like tokens, in NFKC text, one pattern a kind; each is searched on its own, so a
# token one of them finds cannot hide another that overlaps it ("post@nrk.no://x"). Each
# starts only where its run of characters starts (the lookbehinds), which keeps the scan
# linear in the text's length.
_CANDIDATES = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
    ("scheme", r"(?<![a-z0-9+.\-])[a-z0-9+.\-]*://\S*"),
    ("active", r"(?<![a-z])(?:" + "|".join(sorted(_ACTIVE_SCHEMES)) + r"):\S+"),
    ("email", r"(?<![" + _EMAIL_LOCAL + r"])[" + _EMAIL_LOCAL + r"]+@[\w\-]+(?:\.[\w\-]+)+"),
    ("relative", r"//[\w\-]+\.[\w\-]\S*"),
    ("www", r"(?<![\w.\-])www\.[\w\-]\S*"),
    ("ip", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5}|[/?#])\S*"),
    ("host", r"(?<![\w.@\-])(?:[\w\-]+\.)+[\w\-]+(?::\d{1,5})?(?:[/?#]\S*)?"),
))
_TRAILING = ".,;:!?'\")]}*_~»”’"
# A bare name without a path counts as a link only under a top-level domain people use, so
# that glued prose ("f.eks", "kl.10") is not mistaken for one.
_TLDS = frozenset("""
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
""".split())
# Norwegian abbreviations that read like a host under a country code.
_ABBREVIATIONS = frozenset({"f.kr", "e.kr", "mill.kr", "mrd.kr", "m.fl", "bl.a", "f.eks"})
_LINK_HINTS = frozenset(":@./")
_MAX_PASSES = 50  # each pass that changes the text shortens it; this only bounds a bug

_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<![ \t])[ \t]+([.,;:!?])")
# A sentence ends at . ! ? or … (then closing quotes or brackets, then the markers that cite
# it) before whitespace and a capital, a quote or the end; a new line also ends one. A small
# letter after the stop ("f.eks. at") means an abbreviation, not a new sentence.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'»”’)\]]*(?:[ \t]*\[[0-9]+\])*(?=\s+[^\s\w\[]*[A-ZÆØÅ\"'«“(]|\s*\Z)"
    r"|\n")


@dataclass(frozen=True)
class Validated:
    """A reply after checking: `text` carries markers [1]..[m] only; `cited[i]` is the
    original number (1-based, into the prompt's sentences) of the answer's marker [i+1]."""

    text: str
    cited: tuple[int, ...]


def _number(token: str) -> int:
    """A marker token as a number; one too long to be a sentence's number becomes 0."""
    return int(token) if len(token) <= _MAX_DIGITS else 0


def marker_numbers(inner: str) -> list[int]:
    """The numbers a marker's inside names, ranges ("2-4") expanded when short; a number of
    ten or more digits is given as 0, which names no sentence."""
    tokens = _NUMBER_OR_DASH.findall(inner)
    numbers: list[int] = []
    i = 0
    if len(tokens) > 1 and tokens[0] in "-–" and tokens[1].isdigit():  # "[-1]": negative
        numbers.append(-_number(tokens[1]))
        i = 2
    while i < len(tokens):
        token = tokens[i]
        if token in "-–":
            i += 1
            continue
        n = _number(token)
        if i + 2 < len(tokens) and tokens[i + 1] in "-–" and tokens[i + 2] not in "-–":
            end = _number(tokens[i + 2])
            if n > 0 and 0 < end - n <= _MAX_RANGE:
                numbers.extend(range(n, end + 1))
            else:
                numbers.extend((n, end))
            i += 3
            continue
        numbers.append(n)
        i += 1
    return numbers


def validate_markers(reply: str, k: int) -> Validated:
    """Keep the markers of `reply` that name a sentence 1..k, renumber them by first
    appearance, drop the rest (with the space before them)."""
    order: dict[int, int] = {}  # original number -> new number

    def renumber(match: re.Match[str]) -> str:
        kept: list[int] = []
        for n in marker_numbers(match.group(1)):
            if 1 <= n <= k:
                new = order.setdefault(n, len(order) + 1)
                if new not in kept:
                    kept.append(new)
        if not kept:
            return ""
        lead = match.group(0)[:len(match.group(0)) - len(match.group(0).lstrip(" \t"))]
        return lead + "".join(f"[{n}]" for n in kept)

    text = _MARKER.sub(renumber, reply)
    return Validated(text=tidy(text), cited=tuple(order))


def strip_markers(text: str) -> str:
    """The text without any citation marker: the words an answer metric should score."""
    return tidy(_MARKER.sub("", text))


@functools.lru_cache(maxsize=8)
def _normalised(article_text: str) -> str:
    # the streaming view checks every prefix of a reply against the same article
    return unicodedata.normalize("NFKC", article_text).casefold()


def _held(candidate: str, article_text: str) -> bool:
    """Whether the article holds `candidate` (NFKC, case-folded) as a whole name: not
    glued to more of a name on either side, so `evil.example` is not held by
    `notevil.example` and `https://a.example` not by `https://a.example.evil` (a path
    may follow: the article's `https://a.example/x` holds `https://a.example`)."""
    if not candidate or not article_text:
        return False
    return _held_normalised(unicodedata.normalize("NFKC", candidate).casefold(), article_text)


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
        after = hay[i + len(needle):i + len(needle) + 2]
        glued_before = _name_char(before) or before in ".-@"
        glued_after = bool(after) and (_name_char(after[0]) or after[0] in "-~%@" or (
            after[0] in ".:" and len(after) > 1 and _name_char(after[1])))
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
        folded = unicodedata.normalize("NFKC", raw)
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
            found.append((chunk.start(), chunk.end(), folded[merged[0][0]:merged[-1][1]]))
            continue
        found.extend((chunk.start() + start, chunk.start() + end, folded[start:end])
                     for start, end in merged)
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
    text = _TAG.sub("", text)
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


def tidy(text: str) -> str:
    """Fold runs of spaces left by removals, and spaces before punctuation; strip the ends
    of every line."""
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text))
    return "\n".join(line.strip() for line in text.strip().split("\n"))


def check_reply(reply: str, k: int, article_text: str = "") -> Validated:
    """A model's reply made safe to show: thinking and links removed, markers validated.

    Links are stripped again after the markers are checked, until nothing changes: dropping
    a marker (`evil[99].example`) or tidying a space (`evil .example`) can join a new link.
    """
    text = _THINKING.sub("", reply)
    cited: tuple[int, ...] | None = None
    for _ in range(_MAX_PASSES):
        checked = validate_markers(strip_links(text, article_text),
                                   k if cited is None else len(cited))
        # compose the renumbering: the n-th marker now is the cited[n-1]-th one before
        cited = checked.cited if cited is None else tuple(cited[n - 1] for n in checked.cited)
        if checked.text == text:
            break
        text = checked.text
    return Validated(text=text, cited=cited or ())


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def sentence_support(text: str) -> list[tuple[str, bool]]:
    """The sentences of a checked reply, each with whether it carries a citation marker
    `[n]`: the parts of an answer that no cited sentence backs are those marked False.

    The pieces are consecutive slices of `text`, so joining them gives `text` back; a marker
    right after a sentence's full stop ("... i USA. [2]") belongs to that sentence. A piece
    without any letter or digit (a stray line break) joins the piece before it.
    """
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        while end < len(text) and text[end].isspace():
            end += 1
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    merged: list[str] = []
    for piece in pieces:
        if merged and not (_has_word(piece) and _has_word(merged[-1])):
            merged[-1] += piece
        else:
            merged.append(piece)
    return [(piece, _SHOWN_MARKER.search(piece) is not None) for piece in merged]


def settled_prefix(partial: str) -> str:
    """The part of a reply still being streamed that can be shown now: without its last,
    maybe unfinished word, and without an unclosed bracket, link target or tag."""
    cut = len(partial)
    if partial and not partial[-1].isspace():
        cut = len(partial.rstrip()) - len(partial.rstrip().split()[-1])
    for opener, closer in (("](", ")"), ("[", "]"), ("<", ">")):
        i = partial.rfind(opener, 0, cut)
        if i != -1 and closer not in partial[i + len(opener):cut]:
            cut = partial.rfind("[", 0, i) if opener == "](" else i
            cut = max(cut, 0)
    return partial[:cut]


def stream_view(partial: str, k: int, article_text: str = "") -> str:
    """What to show of a partial reply: its settled part, checked like a whole reply."""
    return check_reply(settled_prefix(partial), k, article_text).text
