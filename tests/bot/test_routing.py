"""Questions across every indexed article (`bot/routing.py` through the engine): the
article that holds the answer answers, each citation and ranking entry names its article, the
one-article record keeps its fields, and the CLI takes `--article all`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer_records import ALL_ARTICLES
from bot.engine import Engine, bundled_article_path
from bot.routing import candidate_articles
from bot.settings import Settings
from core.errors import ArticleNotFoundError
from core.records import Sentence
from tests.conftest import run_cli

SCHOOL = (
    "Ny skole på Tøyen\n\nDen nye skolen på Tøyen skal stå ferdig i 2027, sier byråd "
    "Kari Nordmann. Skolen får plass til 840 elever og en svømmehall. Byggingen "
    "koster 1,2 milliarder kroner."
)
FERRY = (
    "Ferja til Hareid går igjen\n\nFerjesambandet mellom Sulesund og Hareid er i drift "
    "igjen etter motorstansen tirsdag. Fjord1 beklager forsinkelsene overfor de "
    "reisende."
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = Settings(store=tmp_path_factory.mktemp("across") / "store")
    engine = Engine(settings)
    engine.index_files([bundled_article_path()])
    engine.index_text(SCHOOL, "school")
    engine.index_text(FERRY, "ferry")
    return engine


@pytest.mark.parametrize(
    ("question", "article", "words"),
    [
        ("Når skal skolen på Tøyen stå ferdig?", "school", "2027"),
        ("Hvor mange elever får skolen plass til?", "school", "840 elever"),
        ("Hvem beklager forsinkelsene for de reisende?", "ferry", "Fjord1"),
        ("Hvem er Sergej Radtsjenko?", "article", "Radtsjenko"),
    ],
)
def test_the_article_that_holds_the_answer_answers(
    engine: Engine, question: str, article: str, words: str
) -> None:
    answer = engine.ask(question, ALL_ARTICLES)
    record = answer.to_record()
    assert record["article"] == "all" and not record["abstained"]
    first = record["citations"][0]
    assert first["article"] == article and words in first["text"]
    assert first["sentence_id"].startswith(f"{article}:")
    assert first["title"] == engine.article(article).title
    text = engine.article(article).text
    assert text[first["start"] : first["end"]] == first["text"]  # offsets into that article
    assert all(
        "article" in r and r["sentence_id"].startswith(r["article"] + ":")
        for r in record["ranking"]
    )
    # the ranking starts with the answering article's own ranking, best first
    assert record["ranking"][0]["article"] == article
    own = [r["score"] for r in record["ranking"] if r["article"] == article]
    assert own == sorted(own, reverse=True)


def test_a_one_article_record_keeps_its_fields(engine: Engine) -> None:
    record = engine.ask("Når skal skolen på Tøyen stå ferdig?", "school").to_record()
    assert record["article"] == "school"
    assert set(record["citations"][0]) == {
        "n",
        "sentence_id",
        "text",
        "start",
        "end",
        "score",
        "support",
    }
    assert set(record["ranking"][0]) == {"sentence_id", "score"}


def test_a_small_cache_of_loaded_articles_still_answers_each(engine: Engine) -> None:
    small = Engine(engine.settings.model_copy(update={"cached_articles": 1}))
    for _ in range(2):
        assert (
            small.ask("Hva koster byggingen?", "school")
            .citations[0]
            .sentence.text.endswith("1,2 milliarder kroner.")
        )
        assert small.ask("Hvem beklager?", ALL_ARTICLES).citations[0].sentence.article_id == "ferry"


def test_all_articles_of_an_empty_store_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArticleNotFoundError, match="run `articlebot index`"):
        Engine(Settings(store=tmp_path / "store")).resolve_article(ALL_ARTICLES)


def test_candidates_are_the_articles_of_the_nearest_sentences_in_order() -> None:
    def s(article: str, n: int) -> Sentence:
        return Sentence(article_id=article, n=n, kind="body", text="x", start=0, end=1)

    hits = [(s("b", 3), 0.9), (s("a", 1), 0.8), (s("b", 1), 0.7), (s("c", 2), 0.6)]
    assert candidate_articles(hits, 2) == [("b", 0.9), ("a", 0.8)]
    assert candidate_articles(hits, 10) == [("b", 0.9), ("a", 0.8), ("c", 0.6)]
    assert candidate_articles([], 3) == []


def test_ask_article_all_on_the_command_line(engine: Engine, cli_env: dict[str, str]) -> None:
    store = str(engine.settings.store)
    done = run_cli(
        [
            "ask",
            "Hvor mange elever får skolen plass til?",
            "--article",
            "all",
            "--store",
            store,
            "--json",
        ],
        cli_env,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["article"] == "all" and record["citations"][0]["article"] == "school"
    done = run_cli(
        ["ask", "Hvor mange elever får skolen plass til?", "--article", "all", "--store", store],
        cli_env,
    )
    assert done.returncode == 0, done.stderr
    assert "«Ny skole på Tøyen», school:" in done.stdout  # the source names its article
