"""Splitting an article into numbered units with character offsets.

Each line of an article is a paragraph. The section label, headline, sub-headings and
teaser lines ("Se video: ...") are units of their own, tagged by kind; body lines are split
into sentences, aware of Norwegian abbreviations (f.eks., bl.a., dvs., nr., kl. ...),
ordinals ("8. august"), initials and « » quotes. Every unit satisfies
`article.text[start:end] == text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.records import Article, Kind, Sentence

SPLITTER_VERSION = "sentence-v1"

ABBREVIATIONS = frozenset(
    """
    f.eks bl.a dvs nr kl ca mfl m.fl osv jf jfr evt pga p.g.a mht ift iht bla ev fhv dr prof
    st mr mrs ms jr sr hr fr etc vs tlf adv gen kap pkt ref red sml spm o.l e.l m.m m.v mill
    mrd kr nok ant avd bl dept div eks inkl ekskl istf vha vedr jan feb mar apr jun jul aug
    sep sept okt nov des e.kr f.kr no e.g i.e approx mt ft co inc ltd corp
    """.split()
)

_TEASER = re.compile(
    r"^(se video|se bildene|se bilder|les også|se også|video|lytt|hør|foto)\s*:", re.IGNORECASE
)
_BOUNDARY = re.compile(r"[.!?…]+[\"»”’')\]]*(?=\s)")
_NEXT_START = re.compile(r"\s+([\"«“‘(\[–—-]?\s*[A-ZÆØÅÄÖÜÉÈ0-9])")
_TERMINAL = '.!?:;»"”’)…'
_HEADING_MD = re.compile(r"^(#{1,6})\s+")
_MAX_SUBHEADING_WORDS = 12


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each non-blank line, trimmed of surrounding whitespace."""
    pos = 0
    for raw in text.split("\n"):
        start, end = pos, pos + len(raw)
        pos = end + 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            yield start, end


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation, an initial or an ordinal number."""
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:dot].lstrip('«"“‘([').lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # An initial: "Henry A. Kissinger". Ordinals ("8. august") are followed by a lower-case
    # word, so they never reach this check.
    return len(word) == 1 and word.isalpha()


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split text[start:end] (one paragraph) into sentence spans."""
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _BOUNDARY.finditer(text, start, end):
        nxt = _NEXT_START.match(text, m.end(), end)
        if nxt is None:
            continue
        if (
            text[m.start()] == "."
            and m.end() - m.start() == 1
            and _is_abbreviation(text, m.start())
        ):
            continue
        spans.append((cur, m.end()))
        cur = nxt.start(1)
    spans.append((cur, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _line_kind(line: str, index: int, lines: list[str]) -> Kind:
    """The kind of a whole line from its shape and place in the article."""
    if _TEASER.match(line):
        return "teaser"
    if _HEADING_MD.match(line):
        md_headings = [ln for ln in lines[:index] if _HEADING_MD.match(ln)]
        return "subheading" if md_headings else "headline"
    unpunctuated = not line.endswith(tuple(_TERMINAL))
    words = len(line.split())
    if index == 0 and unpunctuated:
        nxt = lines[1] if len(lines) > 1 else ""
        if words <= 2 and nxt and not nxt.endswith(tuple(_TERMINAL)) and len(nxt.split()) > 2:
            return "section"
        return "headline"
    if index == 1 and unpunctuated and _line_kind(lines[0], 0, lines) == "section":
        return "headline"
    if unpunctuated and words <= _MAX_SUBHEADING_WORDS:
        return "subheading"
    return "body"


def split_article(article: Article) -> list[Sentence]:
    """Split an article into numbered `Sentence` units, in document order, from 1."""
    text = article.text
    spans = list(_lines(text))
    lines = [text[s:e] for s, e in spans]
    units: list[tuple[Kind, int, int]] = []
    for i, (s, e) in enumerate(spans):
        kind = _line_kind(lines[i], i, lines)
        heading = _HEADING_MD.match(lines[i])
        if heading:
            s += heading.end()
        if kind == "body":
            units.extend(("body", a, b) for a, b in split_sentences(text, s, e))
        elif s < e:
            units.append((kind, s, e))
    return [
        Sentence(article_id=article.id, n=n, kind=kind, text=text[s:e], start=s, end=e)
        for n, (kind, s, e) in enumerate(units, start=1)
    ]
