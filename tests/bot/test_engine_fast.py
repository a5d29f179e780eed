"""The engine end to end with the fake embedder: index, rank, answer and cite without loading
a model (the fast loop's check that the whole query path still holds together)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine, bundled_article_path
from bot.settings import Settings
from tests.fakes import FAKE_EMBEDDER


@pytest.fixture()
def engine(tmp_path: Path, fake_embedder: object) -> Engine:
    return Engine(Settings(store=tmp_path / "store", embedder=FAKE_EMBEDDER, reranker="none"))


def test_an_answer_quotes_the_article_verbatim_with_offsets(engine: Engine) -> None:
    engine.index_files([bundled_article_path()])
    answer = engine.ask("Hvem er Sergej Radtsjenko?", "article")
    text = engine.article("article").text
    assert answer.citations and answer.ranking
    for c in answer.citations:
        assert text[c.sentence.start : c.sentence.end] == c.sentence.text
    assert answer.language == "nb"


def test_the_sentence_sharing_the_questions_words_ranks_first(engine: Engine) -> None:
    engine.index_files([bundled_article_path()])
    sentences = engine.sentences("article")
    target = max(sentences, key=lambda s: len(s.text))
    ranked = engine.ask(target.text, "article").ranking
    assert ranked[0].sentence.id == target.id
