"""Citation markers in a model's reply: parsed, checked, renumbered.

Pure functions, no I/O. A model is told to cite the numbered sentences it was given as `[n]`;
whatever it writes, only markers that point at one of those sentences survive, renumbered
1, 2, ... in order of first appearance, so that the answer's `[n]` always matches the n-th
citation shown. A bracket of ten or more digits is never a citation and is dropped.

Links are removed by `bot.links.strip_links` before and after the markers are checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.links import strip_links

# A bracket holding only numbers and separators: [1], [1, 2], [1][2], [^3], [2-4]. Any number
# of digits matches, so that a long number is recognised as a (never valid) marker and dropped
# rather than left in the text.
# (Each leading run starts where its run starts, the lookbehinds, so that a long run of
# spaces or brackets is scanned once, not once per character.)
_MARKER = re.compile(r"(?<![ \t])[ \t]*\[\^?\s*((?:[\-–]\s*)?[0-9]+(?:\s*[,;\-–]\s*[0-9]+)*)\s*\]")
_NUMBER_OR_DASH = re.compile(r"[0-9]+|[\-–]")
_MAX_DIGITS = 9  # a marker number with more digits is no sentence (and is never converted)
_MAX_RANGE = 20  # a longer "[a-b]" is not a citation range worth expanding
_SHOWN_MARKER = re.compile(r"\[[1-9][0-9]{0,8}\]")

# Reasoning models (qwen3, deepseek-r1 on Ollama) may put their thinking in the content; it is
# not the answer, and an unfinished block (still streaming) hides everything after it.
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)

_MAX_PASSES = 50  # each pass that changes the text shortens it; this only bounds a bug

_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<![ \t])[ \t]+([.,;:!?])")
# A sentence ends at . ! ? or … (then closing quotes or brackets, then the markers that cite
# it) before whitespace and a capital, a quote or the end; a new line also ends one. A small
# letter after the stop ("f.eks. at") means an abbreviation, not a new sentence.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'»”’)\]]*(?:[ \t]*\[[0-9]+\])*(?=\s+[^\s\w\[]*[A-ZÆØÅ\"'«“(]|\s*\Z)"
    r"|\n"
)


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
        lead = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip(" \t"))]
        return lead + "".join(f"[{n}]" for n in kept)

    text = _MARKER.sub(renumber, reply)
    return Validated(text=tidy(text), cited=tuple(order))


def strip_markers(text: str) -> str:
    """The text without any citation marker: the words an answer metric should score."""
    return tidy(_MARKER.sub("", text))


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
        checked = validate_markers(
            strip_links(text, article_text), k if cited is None else len(cited)
        )
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
        if i != -1 and closer not in partial[i + len(opener) : cut]:
            cut = partial.rfind("[", 0, i) if opener == "](" else i
            cut = max(cut, 0)
    return partial[:cut]


def stream_view(partial: str, k: int, article_text: str = "") -> str:
    """What to show of a partial reply: its settled part, checked like a whole reply."""
    return check_reply(settled_prefix(partial), k, article_text).text
