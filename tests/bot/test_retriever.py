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


SWEDISH = "Vem ska Kim Jong-un träffa i Ryssland?"


def test_questions_in_languages_the_cross_encoder_does_not_read_keep_the_first_stage(
    answerer: Answerer, first_stage: Answerer
) -> None:
    """An English question keeps the first stage's ranking and refusal; its best sentence is
    read by the cross-encoder all the same, for the span reader."""
    question = "Who will Kim Jong-un meet?"
    reranked = answerer.retriever.retrieve(question, "en")
    first = first_stage.retriever.retrieve(question, "en")
    assert reranked.ranked == first.ranked and reranked.abstain == first.abstain is False
    assert reranked.answerable == first.answerable
    assert first.reading is None and reranked.reading is not None
    assert reranked.reading.sentence == first.ranked[0].sentence.text


def test_the_shipped_reranker_reranks_swedish_and_leaves_its_refusals_to_the_first_stage(
    answerer: Answerer, first_stage: Answerer
) -> None:
    """A Swedish question is ranked by the first stage's cross-lingual variant; the shipped
    cross-lingual rule reorders its best candidates, and the first stage's abstainer decides
    whether the article answers it."""
    reranker = answerer.retriever.reranker
    assert reranker is not None and reranker.crosslingual_rule is not None
    assert not reranker.crosslingual_rule.refuses and reranker.rule.refuses
    assert reranker.rule_for("sv") is reranker.crosslingual_rule
    assert reranker.rule_for("nb") is reranker.rule and reranker.rule_for("en") is None
    reranked = answerer.retriever.retrieve(SWEDISH, "sv")
    first = first_stage.retriever.retrieve(SWEDISH, "sv")
    k = reranker.crosslingual_rule.k
    ids = [[r.sentence.id for r in x.ranked] for x in (reranked, first)]
    assert sorted(ids[0][:k]) == sorted(ids[1][:k]) and ids[0][k:] == ids[1][k:]
    assert reranked.rerank_ms > 0
    assert reranked.second_within == reranker.crosslingual_rule.second_within
    assert reranked.abstain == first.abstain and reranked.answerable == first.answerable
    assert reranked.reading is not None
    assert reranked.reading.sentence == reranked.ranked[0].sentence.text


def _reranker_dir(tmp_path: Path, crosslingual: dict[str, object] | None) -> Path:
    """A copy of the shipped reranker whose cross-lingual rule is `crosslingual` (none when
    None)."""
    import json
    import shutil

    data = Path(__file__).resolve().parents[2] / "bot" / "data"
    meta = json.loads((data / "reranker.json").read_text())
    meta.pop("rule_crosslingual", None)
    if crosslingual is not None:
        meta["rule_crosslingual"] = crosslingual
    (tmp_path / "reranker.json").write_text(json.dumps(meta))
    for name in ("reranker.onnx", "reader.onnx"):
        shutil.copy(data / name, tmp_path / name)
    return tmp_path


def _lexical_rule(**changes: object) -> dict[str, object]:
    import json

    data = Path(__file__).resolve().parents[2] / "bot" / "data"
    return {**json.loads((data / "reranker.json").read_text())["rule"], **changes}


def test_without_a_cross_lingual_rule_swedish_keeps_the_first_stage_and_has_its_best_read(
    shared_store: Path, first_stage: Answerer, tmp_path: Path
) -> None:
    """A reranker fitted without `crosslingual_rule` leaves a Swedish question's ranking and
    refusal to the first stage; the span reader reads its best sentence all the same."""
    directory = _reranker_dir(tmp_path, None)
    engine = Engine(Settings(store=shared_store, reranker_dir=directory))
    reranked = engine.answerer("article").retriever.retrieve(SWEDISH, "sv")
    first = first_stage.retriever.retrieve(SWEDISH, "sv")
    assert reranked.ranked == first.ranked and reranked.abstain == first.abstain is False
    assert reranked.answerable == first.answerable
    assert reranked.reading is not None
    assert reranked.reading.sentence == first.ranked[0].sentence.text


@pytest.mark.parametrize("refuses", [True, False])
def test_a_cross_lingual_rule_refuses_only_when_it_says_so(
    shared_store: Path, first_stage: Answerer, tmp_path: Path, refuses: bool
) -> None:
    """`train-reranker --recipe '{"crosslingual_rule": true, "crosslingual_languages":
    ["sv"]}'` ships a rule for the Swedish questions the first stage ranks with its
    cross-lingual variant, and the retriever applies it. One that refuses (the default)
    decides refusals too: a rule under which no probability reaches its threshold refuses a
    question the first stage answers. With `"crosslingual_refuses": false` it ranks and
    cites, and the first stage decides. A language it does not serve keeps the first stage."""
    rule = _lexical_rule(abstain_below=1.0, second_within=123.0, refuses=refuses, languages=["sv"])
    directory = _reranker_dir(tmp_path, rule)
    retriever = (
        Engine(Settings(store=shared_store, reranker_dir=directory)).answerer("article").retriever
    )
    swedish = retriever.retrieve(SWEDISH, "sv")
    first = first_stage.retriever.retrieve(SWEDISH, "sv")
    assert swedish.rerank_ms > 0 and swedish.second_within == 123.0
    assert first.abstain is False
    assert swedish.abstain is refuses
    if not refuses:
        assert swedish.answerable == first.answerable
    # Norwegian questions keep the lexical rule, English ones the first stage
    norwegian = retriever.retrieve("Hvem skal Kim Jong-un møte?", "nb")
    assert norwegian.rerank_ms > 0 and norwegian.second_within != 123.0
    english = retriever.retrieve("Who will Kim Jong-un meet?", "en")
    assert (
        english.ranked == first_stage.retriever.retrieve("Who will Kim Jong-un meet?", "en").ranked
    )


def test_a_cross_lingual_rule_for_every_language_reranks_english_too(
    shared_store: Path, tmp_path: Path
) -> None:
    """Without `crosslingual_languages` the cross-lingual rule serves every language the
    first stage's cross-lingual variant ranks, English included."""
    rule = _lexical_rule(second_within=123.0, refuses=False, languages=None)
    directory = _reranker_dir(tmp_path, rule)
    retriever = (
        Engine(Settings(store=shared_store, reranker_dir=directory)).answerer("article").retriever
    )
    english = retriever.retrieve("Who will Kim Jong-un meet?", "en")
    assert english.rerank_ms > 0 and english.second_within == 123.0
