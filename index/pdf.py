"""A PDF -> the article it carries, through pypdf (the `pdf` extra).

Each page's text is read in layout mode, which orders it by position on the page (top to
bottom) rather than by the order the producer happened to write it in, and shows vertical
gaps as blank lines: a gap ends a paragraph. Lines that open or close every page alike
(digits aside: "Side 3 av 9") are running headers and footers and are dropped. Inside a
paragraph the lines are joined; a word hyphenated at a line end ("makt-" / "balansen") is
joined whole, while a hyphen before a capital ("Nord-" / "Korea") stays. A paragraph cut by
a page break is joined across it. A page set in two columns (most rows of its text broken
by a wide gap at one place) is read column by column: what spans the page above and below
the columns stays where it is.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

from core.errors import ArticleError
from index.webpage import Extracted

PDF_EXTRA = "pip install 'articlebot[pdf]'"
MAX_PAGES = 500
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_TERMINAL = '.!?:»"”…'
_PDF_DATE = re.compile(r"^D?:?(\d{4})(\d{2})?(\d{2})?")
_GUTTER = re.compile(r"\S( {4,})(?=\S)")


def extract_pdf(data: bytes, name: str, max_pages: int = MAX_PAGES) -> Extracted:
    """The article of a PDF: its text in reading order and its title, author and date
    from the document's information. ArticleError for a PDF that is encrypted, damaged,
    longer than `max_pages`, or has no text layer (a scan)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise ArticleError(f"{name}: reading PDFs needs the pdf extra: {PDF_EXTRA}") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opened(reader):
            raise ArticleError(
                f"{name}: the PDF is encrypted with a password; save an unprotected copy"
            )
        pages = reader.pages
        if len(pages) > max_pages:
            raise ArticleError(
                f"{name}: {len(pages)} pages, more than the {max_pages} an article may have"
            )
        texts = [page.extract_text(extraction_mode="layout") or "" for page in pages]
        info = reader.metadata
    except ArticleError:
        raise
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        OSError,
        NotImplementedError,
        ZeroDivisionError,
    ) as exc:
        # pypdf reports a damaged file through many exception types
        raise ArticleError(f"{name}: not a readable PDF ({type(exc).__name__})") from None
    paragraphs = reading_order([_lines(_columns(t)) for t in texts])
    if not any(p.strip() for p in paragraphs):
        raise ArticleError(
            f"{name}: the PDF has no text layer (a scanned document?); run it through OCR first"
        )
    title = _meta(info, "title")
    if title and paragraphs and _fold(paragraphs[0]) == _fold(title):
        paragraphs[0] = f"# {paragraphs[0]}"
    return Extracted(
        text="\n".join(paragraphs),
        title=title or paragraphs[0].lstrip("# "),
        byline=_meta(info, "author"),
        published=_date(info),
        site=None,
    )


def _opened(reader: Any) -> bool:
    """Open a PDF encrypted without a user password (restrictions only)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # a missing crypto backend or a broken security handler: not opened
        return False


def _columns(text: str) -> str:
    """A page in layout mode with two columns set one after the other: the rows where most
    lines break at one wide gap are split there, left column first."""
    rows = text.split("\n")
    starts: Counter[int] = Counter()
    for row in rows:
        for gap in _GUTTER.finditer(row):
            starts[gap.end(1)] += 1
    filled = sum(1 for row in rows if row.strip())
    if not starts or filled < 4:
        return text
    column, count = starts.most_common(1)[0]
    if count < filled * 0.3:
        return text
    split = [
        i
        for i, row in enumerate(rows)
        if len(row) > column
        and row[column - 2 : column] == "  "
        and row[column : column + 1].strip()
    ]
    first, last = split[0], split[-1]
    # the left column may run on below the right one's end, until a wide vertical gap
    blank = 0
    while last + 1 < len(rows) and not rows[last + 1][column - 1 :].strip() and blank < 2:
        last += 1
        blank = 0 if rows[last].strip() else blank + 1
    region = rows[first : last + 1]
    if any(row[column - 1 : column].strip() for row in region):
        return text  # a row crosses the gap: not two columns after all
    left = [row[:column].rstrip() for row in region]
    right = [row[column:].strip() for row in region]
    return "\n".join(rows[:first] + left + [""] + right + rows[last + 1 :])


def _lines(text: str) -> list[str]:
    """A page's lines with runs of white space folded; a gap is an empty line."""
    return [_SPACE.sub(" ", line).strip() for line in text.split("\n")]


def _fold(text: str) -> str:
    return _DIGITS.sub("#", _SPACE.sub(" ", text).strip().casefold())


def _furniture(pages: list[list[str]]) -> tuple[set[str], set[str]]:
    """The running headers and footers: the first and last two lines of a page that open
    or close every page (compared with digits folded)."""
    if len(pages) < 2:
        return set(), set()
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    for lines in pages:
        content = [ln for ln in lines if ln]
        tops.update({_fold(ln) for ln in content[:2]})
        bottoms.update({_fold(ln) for ln in content[-2:]})
    every = len(pages)
    return (
        {t for t, n in tops.items() if n == every},
        {b for b, n in bottoms.items() if n == every},
    )


def _strip(lines: list[str], top: set[str], bottom: set[str]) -> list[str]:
    """A page's lines without its running header and footer."""
    content = [i for i, ln in enumerate(lines) if ln]
    drop = {i for i in content[:2] if _fold(lines[i]) in top}
    drop |= {i for i in content[-2:] if _fold(lines[i]) in bottom}
    return [ln for i, ln in enumerate(lines) if i not in drop]


def _join(lines: list[str]) -> str:
    """The lines of one paragraph as one line, hyphenation at line ends undone."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line  # "makt-" + "balansen"
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha():
            out += line  # "Nord-" + "Korea": a hyphen of the word itself
        else:
            out += " " + line
    return out


def reading_order(pages: list[list[str]]) -> list[str]:
    """The paragraphs of a document from its pages' lines (blank lines are gaps)."""
    top, bottom = _furniture(pages)
    paragraphs: list[str] = []
    continuing = False  # the last paragraph may go on at the top of the next page
    for lines in pages:
        blocks: list[list[str]] = [[]]
        for line in _strip(lines, top, bottom):
            if line:
                blocks[-1].append(line)
            elif blocks[-1]:
                blocks.append([])
        blocks = [b for b in blocks if b]
        for i, block in enumerate(blocks):
            text = _join(block)
            if i == 0 and continuing and paragraphs and text[:1].islower():
                paragraphs[-1] = _join([paragraphs[-1], text])
            else:
                paragraphs.append(text)
        continuing = bool(paragraphs) and not paragraphs[-1].endswith(tuple(_TERMINAL))
    return paragraphs


def _meta(info: Any, field: str) -> str | None:
    value = getattr(info, field, None) if info is not None else None
    if not isinstance(value, str):
        return None
    folded = _SPACE.sub(" ", value).strip()
    return folded[:300] or None


def _date(info: Any) -> str | None:
    """The document's creation date as an ISO 8601 date, when it has a readable one."""
    raw = info.get("/CreationDate") if info is not None else None
    found = _PDF_DATE.match(str(raw)) if raw else None
    if not found or not found.group(2) or not found.group(3):
        return None
    year, month, day = found.group(1), found.group(2), found.group(3)
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    return f"{year}-{month}-{day}"
