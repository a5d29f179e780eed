"""The span reader's training parts: the graph tapped for its rows, the answer's tokens as
targets, the confidence fitted only where there is enough to fit on."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.ranking.crossencoder import TAP_OUTPUT, load_scorer
from bot.ranking.reader import OUTSIDE, Reading
from tests.conftest import REPO

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from bot.training.reranker.packing import tap_graph  # noqa: E402
from bot.training.reranker.reader.calibration import ReadCase, fit_confidence  # noqa: E402
from bot.training.reranker.reader.examples import (  # noqa: E402
    SpanExample,
    answer_in,
    load_examples,
    save_examples,
    token_targets,
)


def test_the_graph_is_tapped_once_and_scores_the_same(tmp_path: Path) -> None:
    out = tmp_path / "rr"
    out.mkdir()
    for name in ("reranker.onnx", "reranker.json", "reader.onnx"):
        shutil.copy(REPO / "bot" / "data" / name, out / name)
    graph = onnx.load(str(out / "reranker.onnx"), load_external_data=False)
    # the graph as exported before it was tapped
    tap_nodes = [n for n in graph.graph.node if TAP_OUTPUT in n.output]
    for node in tap_nodes:
        graph.graph.node.remove(node)
    for output in [o for o in graph.graph.output if o.name == TAP_OUTPUT]:
        graph.graph.output.remove(output)
    (out / "reranker.onnx").write_bytes(graph.SerializeToString())
    sentences = ["Været var fint.", "Kim skal møte Putin."]
    untapped = load_scorer(out, tmp_path / "completed")
    assert not untapped.tapped and untapped.reader is None
    before = untapped.score("Hvem skal Kim møte?", sentences)
    assert tap_graph(out / "reranker.onnx", 6, 384)
    assert not tap_graph(out / "reranker.onnx", 6, 384)  # already tapped: left alone
    with pytest.raises(ValueError, match="tapped elsewhere"):
        tap_graph(out / "reranker.onnx", 10, 384)
    tapped = load_scorer(out, tmp_path / "completed")
    assert tapped.tapped and tapped.reader is not None
    scores, readings = tapped.score_rows("Hvem skal Kim møte?", sentences)
    assert np.allclose(scores, before, atol=1e-5)
    assert readings[1].hidden.shape[1] == 384


def test_a_layer_the_graph_lacks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.onnx"
    shutil.copy(REPO / "bot" / "data" / "reranker.onnx", path)
    graph = onnx.load(str(path), load_external_data=False)
    for output in [o for o in graph.graph.output if o.name == TAP_OUTPUT]:
        graph.graph.output.remove(output)
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(ValueError, match="no layer output"):
        tap_graph(path, 40, 384)


def test_the_answer_tokens_are_the_targets() -> None:
    sentence = "Det var The New York Times som meldte det."
    at = answer_in(sentence, ["Aftenposten", "New York Times"])
    assert at == (12, 26)
    spans = (
        OUTSIDE,
        OUTSIDE,
        (0, 3),
        (3, 7),
        (7, 11),
        (11, 15),
        (15, 20),
        (20, 26),
        (26, 30),
        OUTSIDE,
    )
    reading = Reading(sentence, np.zeros((len(spans), 2), dtype=np.float32), spans)
    assert token_targets(reading, *at) == (5, 7)
    # an answer cut off with the end of the pair gives no target
    assert token_targets(reading, 35, 40) is None
    assert answer_in(sentence, ["Dagbladet"]) is None


def _case(right: bool, margin: float, group: int) -> ReadCase:
    x = np.array([margin, 0.5, 0.1, 1.0, 0.9, 1, 0, 0, 0, 0], dtype=float)
    return ReadCase(x, "Oslo" if right else "Bergen", ("Oslo",), True, group)


def test_the_confidence_shows_the_sure_spans_at_the_stated_precision() -> None:
    rng = np.random.default_rng(0)
    cases = [_case(bool(m > 0), float(m), i % 5) for i, m in enumerate(rng.normal(size=300))]
    _, show_above, figures = fit_confidence(cases, 0.9)
    assert 0.0 < show_above < 1.0 and figures["precision"] >= 0.9
    assert figures["coverage"] > 0.3 and figures["exact_match_all"] == pytest.approx(
        np.mean([c.right for c in cases])
    )


def test_too_few_held_out_questions_show_nothing() -> None:
    _, show_above, figures = fit_confidence([_case(True, 1.0, 0), _case(False, -1.0, 1)], 0.9)
    assert show_above == 1.0 and figures["coverage"] == 0.0


def test_examples_are_kept_and_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    examples = [
        SpanExample(rng.normal(size=(n, 4)).astype(np.float16), s, e)
        for n, s, e in ((5, 2, 3), (3, 0, 0), (7, 4, 6))
    ]
    save_examples(examples, tmp_path / "x.npz")
    back = load_examples(tmp_path / "x.npz")
    assert [(b.start, b.end) for b in back] == [(e.start, e.end) for e in examples]
    assert all(np.array_equal(a.hidden, b.hidden) for a, b in zip(examples, back, strict=True))
