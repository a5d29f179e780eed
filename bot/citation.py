"""Citation markers in a model's reply: parsed, checked, renumbered; links filtered out.

Pure functions, no I/O. A model is told to cite the numbered sentences it was given as `[n]`;
whatever it writes, only markers that point at one of those sentences survive, renumbered
1, 2, ... in order of first appearance, so that the answer's `[n]` always matches the n-th
citation shown. Markdown images, links, HTML tags and URLs that the article does not hold are
removed from the reply, so an injected instruction cannot make the answer fetch or show an
attacker's address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A bracket holding only numbers and separators: [1], [1, 2], [1][2], [^3], [2-4].
_MARKER = re.compile(
    r"[ \t]*\[\^?\s*((?:[\-–]\s*)?[0-9]{1,9}(?:\s*[,;\-–]\s*[0-9]{1,9})*)\s*\]")
_NUMBER_OR_DASH = re.compile(r"[0-9]+|[\-–]")
_MAX_RANGE = 20  # a longer "[a-b]" is not a citation range worth expanding

# Reasoning models (qwen3, deepseek-r1 on Ollama) may put their thinking in the content; it is
# not the answer, and an unfinished block (still streaming) hides everything after it.
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]*)(?:\s+\"[^\"\n]*\")?\)")
_TAG = re.compile(r"</?[A-Za-z][^<>\n]*>")
_URL = re.compile(r"(?:(?:https?|ftp|file|data|javascript|vbscript):|www\.)[^\s<>\"'()\[\]]+",
                  re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")


@dataclass(frozen=True)
class Validated:
    """A reply after checking: `text` carries markers [1]..[m] only; `cited[i]` is the
    original number (1-based, into the prompt's sentences) of the answer's marker [i+1]."""

    text: str
    cited: tuple[int, ...]


def marker_numbers(inner: str) -> list[int]:
    """The numbers a marker's inside names, ranges ("2-4") expanded when short."""
    tokens = _NUMBER_OR_DASH.findall(inner)
    numbers: list[int] = []
    i = 0
    if len(tokens) > 1 and tokens[0] in "-–":  # "[-1]": a negative number, never a sentence
        numbers.append(-int(tokens[1]))
        i = 2
    while i < len(tokens):
        token = tokens[i]
        if token in "-–":
            i += 1
            continue
        n = int(token)
        if i + 2 < len(tokens) and tokens[i + 1] in "-–" and tokens[i + 2] not in "-–":
            end = int(tokens[i + 2])
            if 0 < end - n <= _MAX_RANGE:
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


def strip_links(text: str, article_text: str = "") -> str:
    """Remove Markdown images and HTML tags; keep a Markdown link's words but not its
    target; remove URLs that do not occur in `article_text`."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _TAG.sub("", text)
    return _URL.sub(lambda m: m.group(0) if m.group(0) in article_text else "", text)


def tidy(text: str) -> str:
    """Fold runs of spaces left by removals, and spaces before punctuation; strip the ends
    of every line."""
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text))
    return "\n".join(line.strip() for line in text.strip().split("\n"))


def check_reply(reply: str, k: int, article_text: str = "") -> Validated:
    """A model's reply made safe to show: thinking and links removed, markers validated."""
    return validate_markers(strip_links(_THINKING.sub("", reply), article_text), k)


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
