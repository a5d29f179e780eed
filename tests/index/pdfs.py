"""PDF fixtures made in the tests with fpdf2: an article set line by line (so a line break
can fall inside a hyphenated word), with a header and footer on every page."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = "Dagsavisen Øst - Verden"
TITLE = "Ekspert: Putins desperate trekk kan få Kim til å glise"


def article_lines(width: int = 80) -> list[list[str]]:
    """The bundled article's paragraphs, each wrapped into lines of at most `width`."""
    text = (Path(__file__).parents[2] / "index" / "data" / "article.txt").read_text("utf-8")
    return [textwrap.wrap(p, width) for p in text.split("\n")[2:] if p.strip()]


def hyphenate(paragraph: list[str], word: str, cut: int) -> list[str]:
    """Re-break a wrapped paragraph so that `word` is split after `cut` letters with a
    hyphen at the end of a line."""
    joined = " ".join(paragraph)
    at = joined.index(word)
    first = joined[: at + cut] + "-"
    rest = joined[at + cut :]
    return [first, *textwrap.wrap(rest, 80)]


def write_pdf(
    path: Path,
    pages: list[list[list[str]]],
    *,
    title: str | None = TITLE,
    header: str | None = HEADER,
    footer: bool = True,
    author: str | None = None,
    columns: int = 1,
    password: str | None = None,
) -> Path:
    """A PDF with one list of paragraphs (each a list of lines) per page; the headline on
    the first page, `header` and "Side N av M" on every page."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    if author:
        pdf.set_author(author)
    if title:
        pdf.set_title(title)
    if password is not None:  # RC4, which pypdf reads without a crypto library
        pdf.set_encryption(owner_password="owner", user_password=password)
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        if header:
            pdf.set_xy(15, 8)
            pdf.cell(0, 5, header)
        y = 20.0
        if number == 1 and title:
            pdf.set_font("Helvetica", "B", 16)
            pdf.set_xy(15, y)
            pdf.cell(0, 8, title)
            y += 14
        pdf.set_font("Helvetica", size=10)
        col_width = 180 / columns
        per_column = -(-sum(len(p) for p in paragraphs) // columns) + 1
        column, top, count = 0, y, 0
        for paragraph in paragraphs:
            for line in paragraph:
                if columns > 1 and count >= per_column:
                    column, y, count = column + 1, top, 0
                pdf.set_xy(15 + column * col_width, y)
                pdf.cell(col_width, 5, line)
                y += 5
                count += 1
            y += 3
        if footer:
            pdf.set_font("Helvetica", size=8)
            pdf.set_xy(15, 285)
            pdf.cell(0, 5, f"Side {number} av {len(pages)}")
    pdf.output(str(path))
    return path
