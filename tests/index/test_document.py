"""The one door for documents: a file's kind follows its name and is checked against its
bytes, every kind is bounded, and ids come from file stems and links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ArticleError
from index.document import Limits, article_from_bytes, default_id, kind_of, load_article

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    "name,data,message",
    [
        (
            "page.pdf",
            b"<!doctype html><html><body>x</body></html>",
            "not a PDF \\(the file is an HTML page\\)",
        ),
        ("notes.pdf", b"just text", "not a PDF"),
        ("page.html", b"%PDF-1.7\n...", "is a PDF, not .html"),
        ("article.txt", b"%PDF-1.4\n...", "is a PDF, not .txt"),
        ("page.html", b"plain words without markup", "not an HTML page"),
        ("saved.txt", b"\n<!doctype html><html><body>x</body></html>", "is an HTML page, not .txt"),
        ("saved.md", b"<html lang='nb'><p>x</p></html>", "is an HTML page, not .md"),
        ("empty.html", b" \n", "the article is empty"),
    ],
)
def test_a_file_that_is_not_what_its_name_says(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ArticleError, match=message):
        kind_of(data, name)


def test_kinds_by_name_and_content() -> None:
    assert kind_of(b"Verden\nTittel", "a.txt") == "text"
    assert kind_of(b"<p>x</p>", "a.htm") == "html"
    assert kind_of(b"<!DOCTYPE html><html>", "saved") == "html"
    assert kind_of(b"%PDF-1.7", "download") == "pdf"


def test_each_kind_is_bounded(tmp_path: Path) -> None:
    page = (FIXTURES / "article.html").read_bytes()
    with pytest.raises(ArticleError, match="larger than the 1000 byte limit"):
        article_from_bytes(page, "a.html", "a", "a.html", limits=Limits(page_bytes=1000))
    with pytest.raises(ArticleError, match="article's text is larger than the 500 byte"):
        article_from_bytes(page, "a.html", "a", "a.html", limits=Limits(text_bytes=500))
    big = tmp_path / "big.html"
    big.write_bytes(page + b" " * 2000)
    with pytest.raises(ArticleError, match="larger than the"):
        load_article(big, "big", Limits(page_bytes=len(page)))


def test_ids_from_files_and_links() -> None:
    assert default_id("saved/Putin & Kim.html") == "putin-kim"
    assert default_id("https://www.vg.no/nyheter/i/abc123/putin-og-kim") == "putin-og-kim"
    assert default_id("https://example.org/") == "example-org"


def test_plain_text_is_read_as_before() -> None:
    article = load_article(Path(__file__).parents[2] / "index" / "data" / "article.txt", "a")
    assert article.byline is None and article.published is None and article.site is None
    assert article.title == "Ekspert: Putins desperate trekk kan få Kim til å glise"


@pytest.mark.parametrize("link", ["ftp://example.com/x", "file:///etc/passwd", "s3://b/k.txt"])
def test_a_link_of_another_kind_is_refused_as_a_link(link: str) -> None:
    with pytest.raises(ArticleError, match=re.escape(f"{link}: only http and https links")):
        load_article(link, "x")
