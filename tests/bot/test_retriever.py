"""The retriever over the bundled article: dense scores, ranking and the abstention decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.answer import Answerer
from bot.engine import Engine
from bot.ranking.features import FEATURE_NAMES
from bot.settings import Settings


@pytest.fixture(scope="module")
def answerer(shared_store: Path) -> Answerer:
    return Engine(Settings(store=shared_store)).answerer("article")


@pytest.mark.parametrize("question", [
    "Hvem er Sergej Radtsjenko?",
    "What did North Korea recognise?",
    "Hvor mange atomvåpen har Nord-Korea?",
])
def test_dense_scores_match_a_chroma_search_over_all_sentences(answerer: Answerer,
                                                               question: str) -> None:
    retriever = answerer.retriever
    dense = FEATURE_NAMES.index("dense")
    ours = {r.sentence.n: r.features[dense] for r in retriever.retrieve(question).ranked}
    chroma = retriever.chroma_dense_scores(question)
    assert len(ours) == len(answerer.sentences)
    assert np.all(chroma > -1.0)  # Chroma returned every sentence
    np.testing.assert_allclose([ours[s.n] for s in answerer.sentences], chroma, atol=1e-4)


def test_ranking_covers_every_sentence_once(answerer: Answerer) -> None:
    retrieval = answerer.retriever.retrieve("Hvem er Sergej Radtsjenko?", "nb")
    assert sorted(r.sentence.n for r in retrieval.ranked) == [
        s.n for s in answerer.sentences]
    scores = [r.score for r in retrieval.ranked]
    assert scores == sorted(scores, reverse=True)
    assert 0.0 <= retrieval.answerable <= 1.0

