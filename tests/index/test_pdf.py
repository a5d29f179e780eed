"""PDFs made here with fpdf2: text in reading order, hyphenation at line ends joined, the
running header and footer of every page dropped, two columns read in order; a scan, an
encrypted file, too many pages and a damaged file are one clear error each."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ArticleError
from index.document import Limits, load_article
from index.sentence import split_article
from tests.index.pdfs import HEADER, TITLE, article_lines, hyphenate, write_pdf

pytest.importorskip("pypdf", reason="the pdf extra (pip install 'articlebot[pdf]')")


def _two_pages(tmp_path: Path) -> Path:
    paragraphs = article_lines(80)
    paragraphs[2] = hyphenate(paragraphs[2], "maktbalansen", 4)
    half = len(paragraphs) // 2
    return write_pdf(
        tmp_path / "two.pdf", [paragraphs[:half], paragraphs[half:]], author="Kari Nordmann"
    )


def test_two_pages_read_as_the_article(tmp_path: Path) -> None:
    article = load_article(_two_pages(tmp_path), "pdf")
    assert HEADER not in article.text and "Side 1 av 2" not in article.text
    assert "Side 2 av 2" not in article.text
    assert "et skifte i maktbalansen og en trussel" in article.text  # "makt-" + "balansen"
    assert "Nord-Korea tyder på høy grad" in article.text  # "Nord-" + "Korea" keeps its hyphen
    original = [
        p
        for p in (Path(__file__).parents[2] / "index" / "data" / "article.txt")
        .read_text("utf-8")
        .split("\n")[2:]
        if p.strip()
    ]
    assert article.text.split("\n")[1:] == original
    assert (article.title, article.byline) == (TITLE, "Kari Nordmann")
    assert article.published is not None and len(article.published) == 10
    units = split_article(article)
    assert units[0].kind == "headline" and units[0].text == TITLE
    for unit in units:
        assert article.text[unit.start : unit.end] == unit.text


def test_two_columns_are_read_left_column_first(tmp_path: Path) -> None:
    paragraphs = article_lines(40)[:4]
    article = load_article(write_pdf(tmp_path / "cols.pdf", [paragraphs], columns=2), "c")
    text = " ".join(article.text.split())
    flat = " ".join(" ".join(p) for p in paragraphs)
    assert flat.replace("Nord- Korea", "Nord-Korea") in text


def test_a_pdf_without_text_is_a_scan(tmp_path: Path) -> None:
    scan = write_pdf(tmp_path / "scan.pdf", [[]], title=None, header=None, footer=False)
    with pytest.raises(ArticleError, match="no text layer"):
        load_article(scan, "scan")


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    locked = write_pdf(tmp_path / "locked.pdf", [article_lines()[:2]], password="hemmelig")
    with pytest.raises(ArticleError, match="encrypted with a password"):
        load_article(locked, "locked")
    # restrictions without a user password do not stop reading
    open_one = write_pdf(tmp_path / "open.pdf", [article_lines()[:2]], password="")
    assert "Sikkerhetsanalytiker" in load_article(open_one, "open").text


def test_too_many_pages_are_refused(tmp_path: Path) -> None:
    long = write_pdf(tmp_path / "long.pdf", [[["Side."]]] * 12)
    with pytest.raises(ArticleError, match="12 pages, more than the 10"):
        load_article(long, "long", Limits(pdf_pages=10))


def test_a_damaged_pdf_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(_two_pages(tmp_path).read_bytes()[:400])
    with pytest.raises(ArticleError, match=r"broken\.pdf: "):
        load_article(broken, "broken")
