"""Saved web pages shaped like real news pages (navigation, cookie banner, advertisements,
related links, comments, scripts, JSON-LD): the article body, its structure and metadata
are kept, the rest of the page is not, and every unit's offsets point into the stored text."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ArticleError
from index.document import article_from_bytes, load_article
from index.sentence import split_article
from index.webpage import decode_page, extract_page, looks_like_html

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE_TXT = Path(__file__).parents[2] / "index" / "data" / "article.txt"
FURNITURE = (
    "Godta alle",
    "informasjonskapsler",
    "Bli abonnent",
    "Annonse",
    "Spar 50",
    "Les også",
    "Kim Jong-un inspiserte",
    "Kommentarer",
    "skremmende lesning",
    "Ansvarlig redaktør",
    "dataLayer",
    "Del på Facebook",
    "Forsiden",
    "@context",
    "Foto: NTB",
)


def test_the_bundled_article_as_a_page_keeps_its_text_and_nothing_else() -> None:
    article = load_article(FIXTURES / "article.html", "page")
    for bad in FURNITURE:
        assert bad not in article.text, bad
    lines = [ln for ln in ARTICLE_TXT.read_text("utf-8").split("\n") if ln.strip()]
    kept = article.text.split("\n")
    # every paragraph and sub-heading of the article (its section label and video teaser
    # are page furniture on the page), in order
    wanted = [ln for ln in lines[1:] if not ln.startswith("Se video")]
    assert [ln.lstrip("# ") for ln in kept] == wanted


def test_headline_and_sub_headings_are_units_of_their_kind() -> None:
    article = load_article(FIXTURES / "article.html", "page")
    units = split_article(article)
    assert units[0].kind == "headline"
    assert units[0].text == "Ekspert: Putins desperate trekk kan få Kim til å glise"
    subheadings = [u.text for u in units if u.kind == "subheading"]
    assert subheadings == ["Forholdet har myket opp", "Putin må vurdere troverdigheten"]
    for unit in units:
        assert article.text[unit.start : unit.end] == unit.text


def test_metadata_comes_from_the_page() -> None:
    article = load_article(FIXTURES / "article.html", "page")
    assert (article.title, article.byline, article.published, article.site) == (
        "Ekspert: Putins desperate trekk kan få Kim til å glise",
        "Kari Nordmann",
        "2023-09-06",
        "Dagsavisen Øst",
    )
    assert article.source == str((FIXTURES / "article.html").resolve())


def test_an_english_page_with_comments_and_related_links() -> None:
    article = load_article(FIXTURES / "en_news.html", "en")
    assert article.text.startswith("# Council approves new tram line after decade of debate\n")
    assert "£240m" in article.text and "## What happens next?" in article.text
    for bad in (
        "privacy",
        "ADVERTISEMENT",
        "Win a cruise",
        "Bus fares to rise",
        "TramFan99",
        "shop owners what they think",
        "All rights reserved",
        "_paq",
    ):
        assert bad not in article.text, bad
    units = split_article(article)
    assert [u.text for u in units if u.kind == "subheading"] == [
        "Funding still to be confirmed",
        "What happens next?",
    ]
    assert (article.byline, article.published, article.site) == (
        "Jane Whitfield",
        "2024-03-14",
        "The Harbour Courier",
    )


def test_a_page_in_a_declared_legacy_charset_is_decoded_by_it() -> None:
    page = (
        (FIXTURES / "article.html")
        .read_text("utf-8")
        .replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    )
    article = article_from_bytes(page.encode("cp1252"), "latin.html", "latin", "latin.html")
    assert "Radtsjenko" in article.text and "høy grad av desperasjon" in article.text


def test_an_unknown_charset_is_one_clear_error() -> None:
    page = b'<html><head><meta charset="x-klingon-8"></head><body><p>Qapla</p></body></html>'
    with pytest.raises(ArticleError, match="unknown character set 'x-klingon-8'"):
        decode_page(page, "k.html")


def test_bytes_invalid_in_the_declared_charset_are_named() -> None:
    page = b'<html><head><meta charset="utf-8"></head><body><p>\xff\xfe</p></body></html>'
    with pytest.raises(ArticleError, match="not valid utf-8 at byte"):
        decode_page(page[:-1] + b"\x80", "u.html")


@pytest.mark.parametrize(
    "page",
    [
        b"<!doctype html><html><head><title>Forsiden</title></head><body><nav><a href='/'>Hjem"
        b"</a> <a href='/sport'>Sport</a></nav><div class='cookie'>Vi bruker cookies. "
        b"<button>OK</button></div><script>var x = 1;</script></body></html>",
        b"<html><body></body></html>",
    ],
)
def test_a_page_without_an_article_is_refused(page: bytes) -> None:
    with pytest.raises(ArticleError, match="no article text found"):
        extract_page(page, "front.html")


def test_html_is_recognised_by_its_start() -> None:
    assert looks_like_html(b"\xef\xbb\xbf  <!-- saved -->\n<!DOCTYPE html><html>")
    assert looks_like_html(b"<html lang='nb'>")
    assert not looks_like_html(b"Verden\nEkspert: ...")
    assert not looks_like_html(b"%PDF-1.7")
