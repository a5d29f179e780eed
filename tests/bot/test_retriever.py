"""The retriever over the bundled article: dense scores, ranking and the abstention decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.chain import Answerer
from bot.engine import Engine
from bot.ranking.features import FEATURE_NAMES
from bot.settings import Settings


@pytest.fixture(scope="module")
def answerer(shared_store: Path) -> Answerer:
    return Engine(Settings(store=shared_store)).answerer("article")


@pytest.mark.parametrize(
    "question",
    [
        "Hvem er Sergej Radtsjenko?",
        "What did North Korea recognise?",
        "Hvor mange atomvåpen har Nord-Korea?",
    ],
)
def test_dense_scores_match_a_chroma_search_over_all_sentences(
    shared_store: Path, answerer: Answerer, question: str
) -> None:
    """The vectors the ranker scores in memory are the ones Chroma holds: its own query
    (`Store.search`, the route step's) gives every sentence the same cosine."""
    retriever = answerer.retriever
    dense = FEATURE_NAMES.index("dense")
    ours = {r.sentence.n: r.features[dense] for r in retriever.retrieve(question).ranked}
    engine = Engine(Settings(store=shared_store))
    vector = retriever.embedder.embed_query_array(question)
    hits = engine.store.search(vector, 1000, embedder=engine.embedder_spec)
    chroma = {s.n: cosine for s, cosine in hits if s.article_id == "article"}
    assert len(ours) == len(answerer.sentences) == len(chroma)  # Chroma returned every one
    np.testing.assert_allclose(
        [ours[s.n] for s in answerer.sentences],
        [chroma[s.n] for s in answerer.sentences],
        atol=1e-4,
    )


def test_ranking_covers_every_sentence_once(answerer: Answerer) -> None:
    retrieval = answerer.retriever.retrieve("Hvem er Sergej Radtsjenko?", "nb")
    assert sorted(r.sentence.n for r in retrieval.ranked) == [s.n for s in answerer.sentences]
    scores = [r.score for r in retrieval.ranked]
    assert scores == sorted(scores, reverse=True)
    assert 0.0 <= retrieval.answerable <= 1.0


@pytest.fixture(scope="module")
def first_stage(shared_store: Path) -> Answerer:
    return Engine(Settings(store=shared_store, reranker="none")).answerer("article")


@pytest.mark.parametrize(
    "question",
    [
        "Hvem er Sergej Radtsjenko?",
        "Who will Kim Jong-un meet?",
        "Hva heter søsteren til Kim Jong-un?",
    ],
)
def test_the_reranker_reorders_the_first_stages_best_and_keeps_the_rest(
    answerer: Answerer, first_stage: Answerer, question: str
) -> None:
    reranked = answerer.retriever.retrieve(question, "nb")
    first = first_stage.retriever.retrieve(question, "nb")
    reranker = answerer.retriever.reranker
    assert reranker is not None and first_stage.retriever.reranker is None
    k = reranker.rule.k
    ids = [[r.sentence.id for r in x.ranked] for x in (reranked, first)]
    assert sorted(ids[0][:k]) == sorted(ids[1][:k]) and ids[0][k:] == ids[1][k:]
    scores = [r.score for r in reranked.ranked]
    assert scores == sorted(scores, reverse=True)
    assert reranked.second_within == reranker.rule.second_within
    assert first.second_within == first_stage.retriever.model.second_citation_within
    assert reranked.rerank_ms > 0 and first.rerank_ms == 0
    # the best sentence as the cross-encoder read it, for the span reader
    assert reranked.reading is not None and first.reading is None
    assert reranked.reading.sentence == reranked.ranked[0].sentence.text
    # plain Python values: the answer record is JSON
    assert type(reranked.abstain) is bool and type(reranked.answerable) is float
    # the short-answer gate reads the first stage's figures on either path
    assert reranked.first_stage == first.first_stage
    assert reranked.first_stage_answerable == first.first_stage_answerable == first.answerable


def test_questions_in_other_languages_keep_the_first_stage_and_have_their_best_read(
    answerer: Answerer, first_stage: Answerer
) -> None:
    question = "Who will Kim Jong-un meet?"
    reranked = answerer.retriever.retrieve(question, "en")
    first = first_stage.retriever.retrieve(question, "en")
    assert reranked.ranked == first.ranked and reranked.abstain == first.abstain is False
    assert reranked.answerable == first.answerable
    # the span reader reads the best sentence all the same
    assert first.reading is None and reranked.reading is not None
    assert reranked.reading.sentence == first.ranked[0].sentence.text


def test_a_reranker_with_a_cross_lingual_rule_rereads_other_languages_with_it(
    shared_store: Path, tmp_path: Path
) -> None:
    """`train-reranker --recipe '{"crosslingual_rule": true}'` ships a rule for questions the
    first stage ranks with its cross-lingual variant; the retriever then applies it."""
    import json
    import shutil

    data = Path(__file__).resolve().parents[2] / "bot" / "data"
    meta = json.loads((data / "reranker.json").read_text())
    rule = dict(meta["rule"], abstain_below=0.0, second_within=123.0)  # visibly another rule
    (tmp_path / "reranker.json").write_text(json.dumps({**meta, "rule_crosslingual": rule}))
    shutil.copy(data / "reranker.onnx", tmp_path / "reranker.onnx")
    shutil.copy(data / "reader.onnx", tmp_path / "reader.onnx")
    engine = Engine(Settings(store=shared_store, reranker_dir=tmp_path))
    retriever = engine.answerer("article").retriever
    question = "Who will Kim Jong-un meet?"
    english = retriever.retrieve(question, "en")
    assert english.rerank_ms > 0 and not english.abstain  # nothing is below 0
    assert english.second_within == 123.0
    norwegian = retriever.retrieve("Hvem skal Kim Jong-un møte?", "nb")
    assert norwegian.rerank_ms > 0 and norwegian.second_within == meta["rule"]["second_within"]
