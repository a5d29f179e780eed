from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.article import article_from_text, read_article
from index.sentence import split_article
from tests.conftest import ARTICLE


def _split(text: str) -> list[tuple[str, str]]:
    article = article_from_text(text, "t")
    return [(s.kind, s.text) for s in split_article(article)]


def test_bundled_article_units_and_kinds() -> None:
    article = read_article(ARTICLE)
    units = split_article(article)
    assert [u.n for u in units] == list(range(1, len(units) + 1))
    kinds = {u.text: u.kind for u in units}
    assert kinds["Verden"] == "section"
    assert kinds["Ekspert: Putins desperate trekk kan få Kim til å glise"] == "headline"
    assert kinds["Se video: Her går det russiske ammunisjonslageret i lufta"] == "teaser"
    assert kinds["Forholdet har myket opp"] == "subheading"
    assert kinds["Kreml har ikke ønsket å bekrefte at reisen skal finne sted."] == "body"
    for u in units:
        assert article.text[u.start : u.end] == u.text
        assert u.id == f"article:{u.n}"


def test_norwegian_abbreviations_do_not_split() -> None:
    text = (
        "Tittel på saken\nDe kom bl.a. fra Oslo, f.eks. Per og Kari. Møtet var kl. 12 "
        "i rom nr. 4. Det varte til 8. august. Henry A. Kissinger var der."
    )
    body = [t for k, t in _split(text) if k == "body"]
    assert body == [
        "De kom bl.a. fra Oslo, f.eks. Per og Kari.",
        "Møtet var kl. 12 i rom nr. 4.",
        "Det varte til 8. august.",
        "Henry A. Kissinger var der.",
    ]


def test_quotes_keep_attribution_with_the_sentence() -> None:
    text = (
        "Overskrift her\n«Dette er farlig», sier han. «Hva nå?» spurte hun. "
        "«Ikke fordi de endrer seg. Men fordi vi gjør det», skriver han."
    )
    body = [t for k, t in _split(text) if k == "body"]
    assert body == [
        "«Dette er farlig», sier han.",
        "«Hva nå?» spurte hun.",
        "«Ikke fordi de endrer seg.",
        "Men fordi vi gjør det», skriver han.",
    ]


def test_markdown_headings() -> None:
    units = _split("# Tittel\n\nFørste setning. Andre setning.\n\n## Under\nTredje.")
    assert units == [
        ("headline", "Tittel"),
        ("body", "Første setning."),
        ("body", "Andre setning."),
        ("subheading", "Under"),
        ("body", "Tredje."),
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=400))
def test_offsets_hold_for_any_text(raw: str) -> None:
    try:
        article = article_from_text(raw, "x")
    except Exception:
        return  # empty after cleaning: refused elsewhere
    for s in split_article(article):
        assert article.text[s.start : s.end] == s.text
        assert s.text.strip() == s.text and s.text
