from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bot.eval.qafile import read_qa_file
from bot.training.examples import make_example, prepare_passages, without
from bot.training.ranker import hit_at, train_model
from tests.conftest import dataset, run_cli


def _small_train(tmp_path: Path, contexts: int = 10) -> Path:
    """The first `contexts` passages of NorQuAD train with all their questions."""
    rows = [json.loads(x) for x in dataset("norquad", "train.jsonl").read_text().splitlines()]
    keep = list(dict.fromkeys(r["context"] for r in rows))[:contexts]
    path = tmp_path / "small.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if r["context"] in keep)
    )
    return path


def test_gold_and_hard_negatives(tmp_path: Path, e5: Any) -> None:
    item = read_qa_file(_small_train(tmp_path, 1)).items[0]
    passage = prepare_passages([item.context or ""], e5, None)[item.context or ""]
    example = make_example(item, passage, e5.embed_query_array(item.question))
    sentences = passage.prepared.sentences
    gold_text = " ".join(s.text for s, g in zip(sentences, example.gold, strict=True) if g)
    assert example.gold.sum() >= 1 and item.answers[0] in gold_text
    hard = without(passage, example.gold)
    assert len(hard.prepared.sentences) == len(passage.prepared.sentences) - int(example.gold.sum())
    span = item.spans[0]
    assert not any(
        s.start < span.start + len(span.text) and span.start < s.end
        for s in hard.prepared.sentences
    )


def test_training_learns_and_writes_a_loadable_model(tmp_path: Path, e5: Any) -> None:
    items = read_qa_file(_small_train(tmp_path)).items
    model, report = train_model(items, e5, tmp_path / "cache", seed=0)
    assert report.n_contexts == 10 and report.n_questions == len(items)
    # on its own training data the learned ranker beats the first-sentence guess
    passages = prepare_passages([i.context or "" for i in items], e5, tmp_path / "cache")
    examples = [
        make_example(i, passages[i.context or ""], e5.embed_query_array(i.question)) for i in items
    ]
    learned = hit_at(examples, [model.lexical.ranker.decision(e.matrix) for e in examples])
    first = hit_at(examples, [-np.arange(len(e.gold), dtype=float) for e in examples])
    assert learned > first
    assert report.lexical["train_negative_abstention"] > 0.5


def test_train_ranker_command(tmp_path: Path, cli_env: dict[str, str]) -> None:
    out = tmp_path / "ranker.json"
    r = run_cli(
        [
            "train-ranker",
            str(_small_train(tmp_path, 6)),
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "c"),
        ],
        cli_env,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["meta"]["source"] == "articlebot train-ranker"
    assert len(data["meta"]["train_sha256"]) == 64
    r = run_cli(
        ["ask", "Hvem er Sergej Radtsjenko?", "--json", "--store", str(tmp_path / "s")],
        {**cli_env, "ARTICLEBOT_RANKER_FILE": str(out)},
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(["train-ranker", str(tmp_path / "missing.jsonl"), "--out", str(out)], cli_env)
    assert r.returncode == 2 and "no such file" in r.stderr


def _small_xquad(tmp_path: Path, paragraphs: int = 2) -> Path:
    """The first `paragraphs` paragraphs of XQuAD in English and German."""
    folder = tmp_path / "xquad"
    folder.mkdir()
    for lang in ("en", "de"):
        data = json.loads(dataset("xquad", f"xquad.{lang}.json").read_text())
        data["data"] = [
            {**data["data"][0], "paragraphs": data["data"][0]["paragraphs"][:paragraphs]}
        ]
        (folder / f"xquad.{lang}.json").write_text(json.dumps(data, ensure_ascii=False))
    return folder


def test_added_signals_train_beside_the_files_questions(tmp_path: Path, e5: Any) -> None:
    from bot.training.noise import noisy_copies

    items = read_qa_file(_small_train(tmp_path, 6)).items
    extra = noisy_copies(items, 1.0, seed=0)
    plain, _ = train_model(items, e5, tmp_path / "cache", seed=0)
    model, report = train_model(
        items, e5, tmp_path / "cache", seed=0, extra=extra, lexical_dropout=0.5
    )
    assert report.n_questions == len(items) and report.n_added == len(extra) > 0
    assert report.lexical_dropout == 0.5
    assert not np.allclose(model.lexical.ranker.coef, plain.lexical.ranker.coef)


def test_abstain_dropout_refits_the_abstainer_alone(tmp_path: Path, e5: Any) -> None:
    items = read_qa_file(_small_train(tmp_path, 6)).items
    plain, _ = train_model(items, e5, tmp_path / "cache", seed=0)
    model, report = train_model(items, e5, tmp_path / "cache", seed=0, abstain_dropout=1.0)
    assert report.abstain_dropout == 1.0
    # the ranker is fitted as before; the lexical abstainer saw every question without its
    # shared-word features, so it learned other weights, and the cross-lingual one did not
    assert np.allclose(model.lexical.ranker.coef, plain.lexical.ranker.coef)
    assert not np.allclose(model.lexical.abstainer.coef, plain.lexical.abstainer.coef)
    assert np.allclose(model.crosslingual.abstainer.coef, plain.crosslingual.abstainer.coef)


def test_train_ranker_takes_noise_and_cross_lingual_pairs(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "ranker.json"
    train = str(_small_train(tmp_path, 4))
    first, second = read_qa_file(Path(train)).items[:2]
    paraphrases = tmp_path / "para.jsonl"
    paraphrases.write_text(
        json.dumps({"id": first.id, "question": "Hva var det som skjedde?"}) + "\n"
    )
    signals = ["--noise", "0.5", "--cross-lingual", str(_small_xquad(tmp_path))]
    signals += ["--paraphrases", str(paraphrases)]
    r = run_cli(
        [
            "train-ranker",
            train,
            "--out",
            str(out),
            *signals,
            "--lexical-dropout",
            "0.3",
            "--abstain-dropout",
            "0.4",
        ],
        cli_env,
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads(out.read_text())["meta"]
    assert meta["noise"] == 0.5 and meta["cross_lingual"] == "xquad"
    assert meta["paraphrases"] == "para.jsonl"
    # the data read is pinned by its bytes, each XQuAD file and the paraphrase file
    xquad = sorted((tmp_path / "xquad").glob("xquad.*.json"))
    assert meta["cross_lingual_sha256"] == {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in xquad
    }
    assert len(xquad) >= 2
    assert meta["paraphrases_sha256"] == hashlib.sha256(paraphrases.read_bytes()).hexdigest()
    assert meta["lexical_dropout"] == 0.3 and meta["abstain_dropout"] == 0.4
    assert meta["n_added"] > 20
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"id": "nope", "question": "Hva?"}) + "\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"id": second.id, "question": "Hvem?"}) + "\n{\n")
    for bad, said in (
        (["--paraphrases", str(unknown)], "1 paraphrased question ids are not in"),
        (["--paraphrases", str(broken)], "broken.jsonl:2: not a JSON object"),
        (["--noise", "2"], "must be from 0 to 1"),
        (["--abstain-dropout", "-0.1"], "must be from 0 to 1"),
        (["--cross-lingual", str(tmp_path / "none")], "two or more XQuAD files"),
    ):
        r = run_cli(["train-ranker", train, "--out", str(tmp_path / "x.json"), *bad], cli_env)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
