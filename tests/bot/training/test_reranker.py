"""`articlebot train-reranker`: a tiny run end to end (lists, fine-tuning, export, answer
rule), killed in the middle and resumed from its checkpoint; and the parts it is built of."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bot.training.test_ranker import _small_train
from tests.conftest import REPO, run_cli

torch = pytest.importorskip("torch")

RECIPE = {
    "max_steps": 6,
    "checkpoint_every": 2,
    "log_every": 2,
    "questions_per_step": 2,
    "val_questions": 4,
    "calibration_questions": 6,
    "freeze_layers": 10,
}


def test_a_killed_run_resumes_from_its_checkpoint_and_writes_a_loadable_reranker(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from bot.ranking.crossencoder import load_scorer

    train = _small_train(tmp_path, 8)
    out = tmp_path / "rr"
    args = [
        sys.executable,
        "-m",
        "bot",
        "train-reranker",
        str(train),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--validation",
        str(train),
        "--recipe",
        json.dumps(RECIPE),
    ]
    first = subprocess.Popen(
        args,
        env=cli_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoint = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert checkpoint.exists()
    done = int(torch.load(checkpoint, weights_only=False)["step"])
    assert 2 <= done < 6
    r = subprocess.run(args, env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert f"resuming at step {done} of 6" in r.stderr
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in log].count("start") == 1  # one run, continued
    epoch = [x for x in log if x["kind"] == "epoch"]
    assert len(epoch) == 1 and epoch[0]["step"] == 6
    assert 0.0 <= epoch[0]["val_hit_at_1"] <= 1.0 and np.isfinite(epoch[0]["loss"])
    meta = json.loads((out / "reranker.json").read_text())
    assert meta["steps"] == 6 and meta["recipe"]["max_steps"] == 6
    assert meta["rule"]["k"] in (3, 5, 8) and len(meta["train_sha256"]) == 64
    # fine-tuned on the file alone: no added questions, and the record says so
    assert meta["fine_tuned_with"] == {
        "noise": 0.0,
        "cross_lingual": None,
        "pairs_per_question": 2,
        "paraphrases": None,
    }
    scorer = load_scorer(out, tmp_path / "completed")
    scores = scorer.score(
        "Hvem er Sergej Radtsjenko?", ["Været var fint.", "Sergej Radtsjenko er ekspert."]
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()

    def rerun(recipe: dict[str, int]) -> subprocess.CompletedProcess[str]:
        args = ["--cache", str(tmp_path / "cache"), "--recipe", json.dumps(recipe)]
        return run_cli(["train-reranker", str(train), "--out", str(out), *args], cli_env)

    # a finished run is not redone: every stage's output is there
    again = rerun(RECIPE)
    assert again.returncode == 0 and "building the first stage" not in again.stderr
    # a run stopped at its max_steps continues for more once its exported graph is removed
    (out / "reranker.onnx").unlink()
    more = rerun({**RECIPE, "max_steps": 8})
    assert more.returncode == 0, more.stderr
    assert "resuming at step 6 of 8" in more.stderr
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    ends = [x["step"] for x in log if x["kind"] == "epoch"]
    assert ends[0] == 6 and ends[-1] == 8  # where it stopped, and where it ends now
    assert json.loads((out / "reranker.json").read_text())["steps"] == 8


def test_a_shipped_graph_has_its_answer_rules_refitted_without_fine_tuning(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """For a retrained first stage: the shipped graph stays, its rules are fitted anew."""
    import shutil

    from bot.ranking.crossencoder import load_scorer

    out = tmp_path / "rr"
    out.mkdir()
    for name in ("reranker.onnx", "reranker.json"):
        shutil.copy(REPO / "bot" / "data" / name, out / name)
    shipped = json.loads((out / "reranker.json").read_text())
    train = str(_small_train(tmp_path, 30))

    def refit(**recipe: object) -> subprocess.CompletedProcess[str]:
        settings = json.dumps({"calibration_questions": 40, "reader_epochs": 1, **recipe})
        args = ["--cache", str(tmp_path / "cache"), "--noise", "0.5", "--recipe", settings]
        return run_cli(["train-reranker", train, "--out", str(out), *args], cli_env)

    r = refit(reader_added=True)
    assert r.returncode == 0, r.stderr
    assert "building the first stage" not in r.stderr and not (out / "model.pt").exists()
    meta = json.loads((out / "reranker.json").read_text())
    assert meta["null_logit"] == shipped["null_logit"] and meta["steps"] == shipped["steps"]
    assert meta["frozen_sha256"] == shipped["frozen_sha256"]
    # what the graph was fine-tuned on is the graph's, not this refit's flags
    assert meta["fine_tuned_with"] == shipped["fine_tuned_with"]
    assert shipped["fine_tuned_with"]["cross_lingual"] == "xquad"
    assert meta["rule"] != shipped["rule"] and meta["added_questions"]["heldout"] > 0
    assert "rule_crosslingual" not in meta  # too few cross-lingual questions held out
    assert meta["rule"]["refuses"] is True  # the lexical rule decides refusals
    # the held-out figures put the rule's ranking beside the first stage's, by language too
    held = meta["heldout_by_k"][str(meta["rule"]["k"])]
    languages = held["by_language"]
    n = meta["heldout_questions"]
    assert sum(v["questions"] for v in languages.values()) == n
    for figure in ("hit_at_1", "first_stage_hit_at_1"):
        overall = sum(v[figure] * v["questions"] for v in languages.values()) / n
        assert overall == pytest.approx(held[figure])
    assert load_scorer(out, tmp_path / "completed").rule.k == meta["rule"]["k"]
    # with `reader_added`, the span reader is fine-tuned on the added messy copies too
    read = meta["fine_tune_questions"] + meta["added_questions"]["fine_tune"]
    assert f"span reader: reading {read} questions through the graph" in r.stderr
    # the rules are fitted on the file's held-out questions only, unless the recipe adds the
    # added questions' held-out part
    assert meta["heldout_questions"] == meta["calibration_questions"] < 40
    r = refit(rule_added=True)
    assert r.returncode == 0, r.stderr
    added = json.loads((out / "reranker.json").read_text())
    assert "span reader: reading" not in r.stderr  # the trained reader is kept
    assert added["heldout_questions"] > meta["heldout_questions"]
    # the span reader's confidence stays fitted on the file's own held-out questions
    assert added["reader"]["heldout"]["questions"] == meta["reader"]["heldout"]["questions"]
    # the added questions are fitted on, but the file's own set the threshold
    figures = added["heldout_by_k"][str(added["rule"]["k"])]
    assert "false_abstention_added" in figures
    assert "false_abstention_added" not in meta["heldout_by_k"][str(meta["rule"]["k"])]
    # with `rule_reader`, the rule reads the span reader's margin, and the model loads with it
    r = refit(rule_reader=True)
    assert r.returncode == 0, r.stderr
    reading = json.loads((out / "reranker.json").read_text())
    assert reading["rule"]["features"][-1] == "reader_margin"
    assert list(out.glob("margins-*.json"))  # kept for a rerun
    scorer = load_scorer(out, tmp_path / "completed")
    assert scorer.rule.reads_span and scorer.reader is not None
    verdict = scorer.rerank("Hvem?", ["Kim Jong-un møter Putin.", "Det regnet."], np.zeros(2), 0.0)
    assert 0.0 <= verdict.answerable <= 1.0


def test_another_recipe_does_not_resume_a_checkpoint(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "rr"
    (out / "checkpoints").mkdir(parents=True)
    train = _small_train(tmp_path, 2)
    torch.save({"settings": {"seed": 99}}, out / "checkpoints" / "last.pt")
    r = run_cli(
        ["train-reranker", str(train), "--out", str(out), "--recipe", json.dumps(RECIPE)], cli_env
    )
    assert r.returncode == 2
    assert "was written with other settings" in r.stderr and "Traceback" not in r.stderr
    assert "candidate lists" not in r.stderr  # refused before the lists are built


def test_the_recipe_says_which_rules_ship_and_which_refuse() -> None:
    from bot.training.reranker.pipeline import rule_to_ship
    from bot.training.reranker.recipe import TrainSettings

    fitted = {"k": 3, "abstain_below": 0.2}
    every = {"refuses": True, "languages": None}
    plain = TrainSettings()
    assert rule_to_ship("rule", fitted, plain) == {**fitted, **every}
    assert rule_to_ship("rule_crosslingual", fitted, plain) is None
    deciding = TrainSettings(crosslingual_rule=True)
    assert rule_to_ship("rule_crosslingual", fitted, deciding) == {**fitted, **every}
    ranking = TrainSettings(
        crosslingual_rule=True, crosslingual_refuses=False, crosslingual_languages=["sv"]
    )
    shipped = {**fitted, "refuses": False, "languages": ["sv"]}
    assert rule_to_ship("rule_crosslingual", fitted, ranking) == shipped
    assert rule_to_ship("rule", fitted, ranking) == {**fitted, **every}
    with pytest.raises(ValueError, match="language codes"):
        TrainSettings(crosslingual_rule=True, crosslingual_languages=[])


def test_a_checkpoint_from_before_a_recipe_field_existed_resumes(tmp_path: Path) -> None:
    """A field added to the recipe later defaults to what runs did before it, so a checkpoint
    without it resumes under a recipe that leaves it at its default. The answer rules' fields
    do not change how the graph trains, so a checkpoint resumes whatever they say; another
    training setting is refused."""
    from dataclasses import asdict

    from bot.training.reranker.loop import checkpoint_path, resumable
    from bot.training.reranker.recipe import TrainSettings
    from core.errors import ConfigError

    out = tmp_path / "rr"
    checkpoint_path(out).parent.mkdir(parents=True)
    older = asdict(TrainSettings(**RECIPE))  # type: ignore[arg-type]
    del older["crosslingual_refuses"], older["rule_first_stage"]
    torch.save({"settings": older, "init": None}, checkpoint_path(out))
    state = resumable(out, TrainSettings(**RECIPE), None)  # type: ignore[arg-type]
    assert state is not None and state["settings"] == older
    rules = {**RECIPE, "rule_first_stage": False, "crosslingual_rule": True}
    assert resumable(out, TrainSettings(**rules), None) is not None  # type: ignore[arg-type]
    changed = {**RECIPE, "lr": 1e-3}
    with pytest.raises(ConfigError, match="other settings"):
        resumable(out, TrainSettings(**changed), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("started", "given"), [(None, "bot/data"), ("bot/data", None)])
def test_a_checkpoint_resumes_only_from_where_it_started(
    tmp_path: Path, cli_env: dict[str, str], started: str | None, given: str | None
) -> None:
    from dataclasses import asdict

    from bot.training.reranker.recipe import TrainSettings

    out = tmp_path / "rr"
    (out / "checkpoints").mkdir(parents=True)
    init = None if started is None else {"from": str(REPO / started), "steps": 1}
    saved = {"settings": asdict(TrainSettings(**RECIPE)), "init": init}  # type: ignore[arg-type]
    torch.save(saved, out / "checkpoints" / "last.pt")
    flags = [] if given is None else ["--init", str(REPO / given)]
    r = _one_small_run(tmp_path, cli_env, "--recipe", json.dumps(RECIPE), *flags)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    error = r.stderr.splitlines()[-1]  # after the progress notices
    assert "resume it with the same --init" in error
    assert ("e5's own weights" in error) == (started is None)
    assert "candidate lists" not in r.stderr


def test_fine_tuning_can_start_from_the_shipped_cross_encoder(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """`--init bot/data`: the run starts from the shipped weights, null and first-stage
    weight (its first scores are the shipped graph's), and says so in the log and
    reranker.json."""
    from bot.ranking.crossencoder import load_scorer
    from bot.ranking.e5file import E5File, default_path
    from bot.ranking.e5tokenizer import E5Tokenizer
    from bot.training.reranker.batching import PairEncoder, padded
    from bot.training.reranker.model import CrossEncoder
    from bot.training.reranker.warm_start import warm_start

    shipped_dir = REPO / "bot" / "data"
    shipped = json.loads((shipped_dir / "reranker.json").read_text())
    file = E5File(default_path())
    model = CrossEncoder(file)
    for i, layer in enumerate(model.encoder.layers):
        layer.requires_grad_(i >= 6)
    for p in (model.encoder.pos, model.encoder.types, *model.encoder.ln.parameters()):
        p.requires_grad_(False)
    assert warm_start(model, shipped_dir) == shipped["steps"]
    assert float(model.null.detach()) == pytest.approx(shipped["null_logit"])
    assert float(model.alpha.detach()) == pytest.approx(shipped["alpha"])
    question = "Hvem er Sergej Radtsjenko?"
    sentences = ["Været var fint i går.", "Sergej Radtsjenko er forsker ved et institutt."]
    tok = E5Tokenizer(file)
    pairs = PairEncoder(tok, shipped["max_len"], shipped["max_question"])
    ids, mask = padded([pairs.pair(question, s) for s in sentences], tok.pad)
    with torch.no_grad():
        mine = model.eval()(ids, mask).numpy()
    want = load_scorer(cache_dir=tmp_path / "completed").score(question, sentences)
    assert np.abs(mine - want).max() < 0.01  # float16 weights against float32 ones

    import shutil

    out = tmp_path / "rr"
    out.mkdir()
    # the span head reads the frozen layers' rows, which fine-tuning leaves alone: the
    # shipped head is kept, as the README's continued runs keep it
    shutil.copy(shipped_dir / "reader.onnx", out / "reader.onnx")
    recipe = {**RECIPE, "max_steps": 2}
    args = ["--cache", str(tmp_path / "cache"), "--recipe", json.dumps(recipe)]
    train = str(_small_train(tmp_path, 8))
    r = run_cli(
        ["train-reranker", train, "--out", str(out), "--init", str(shipped_dir), *args], cli_env
    )
    assert r.returncode == 0, r.stderr
    assert f"starting from the cross-encoder in {shipped_dir}" in r.stderr
    start = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    assert start["init"] == {"from": str(shipped_dir), "steps": shipped["steps"]}
    assert start["null"] == pytest.approx(shipped["null_logit"])
    meta = json.loads((out / "reranker.json").read_text())
    assert meta["steps"] == 2 and meta["init"] == start["init"]
    assert "span reader: reading" not in r.stderr  # the kept head was not fine-tuned again


def _one_small_run(tmp_path: Path, cli_env: dict[str, str], *args: str) -> Any:
    """`train-reranker` on one question into tmp_path/rr with `args` added."""
    train = str(_small_train(tmp_path, 1))
    return run_cli(["train-reranker", train, "--out", str(tmp_path / "rr"), *args], cli_env)


def test_init_from_a_folder_without_a_shipped_graph_is_one_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "empty").mkdir()
    r = _one_small_run(tmp_path, cli_env, "--init", str(tmp_path / "empty"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--init" in r.stderr and "reranker.onnx" in r.stderr
    assert not (tmp_path / "rr").exists()


@pytest.mark.parametrize(
    "recipe", ['{"epochs": ', "[1]", '{"no_such_setting": 1}', '{"rerank_k": 4}', '{"epochs": 0}']
)
def test_a_bad_recipe_is_one_line(tmp_path: Path, cli_env: dict[str, str], recipe: str) -> None:
    r = _one_small_run(tmp_path, cli_env, "--recipe", recipe)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--recipe" in r.stderr


@pytest.mark.parametrize(
    "field",
    [
        {"rerank_k": 4},
        {"k": 0},
        {"max_steps": 0},
        {"max_len": 40, "max_question": 48},
        {"rule_false_abstention": 0.0},
        {"reader_precision": 1.0},
        {"rule_threshold_added": True},
        {"crosslingual_refuses": False},
        {"crosslingual_languages": ["sv"]},
    ],
)
def test_a_recipe_that_could_not_finish_is_refused_when_made(field: dict[str, object]) -> None:
    from bot.training.reranker.recipe import TrainSettings

    with pytest.raises(ValueError, match=next(iter(field))):
        TrainSettings(**field)  # type: ignore[arg-type]


def test_the_initial_null_minimises_the_first_stage_loss() -> None:
    from bot.training.reranker.batching import TrainList
    from bot.training.reranker.loss import initial_null

    items = [
        TrainList(
            own=((1,), (2,)),
            gold=(True, False),
            other=((3,),),
            own_first=(2.0, 0.5),
            other_first=(-1.0,),
        ),
        TrainList(
            own=((1,), (2,)), gold=(False, True), other=(), own_first=(1.0, 1.5), other_first=()
        ),
    ]
    best = initial_null(items, 0.5)

    def loss(null: float) -> float:
        def lse(x: list[float]) -> float:
            return float(np.log(np.exp(np.asarray(x)).sum()))

        total = 0.0
        for it in items:
            own = list(it.own_first)
            g = it.gold.index(True)
            total += lse([*own, null]) - own[g]
            total += 0.5 * (lse([*(o for i, o in enumerate(own) if i != g), null]) - null)
            if it.other_first:
                total += 0.5 * (lse([*it.other_first, null]) - null)
        return total

    grid = np.linspace(-10, 10, 2001)
    assert abs(best - grid[int(np.argmin([loss(x) for x in grid]))]) < 0.02


def test_frozen_cache_gives_the_states_of_an_unbatched_forward() -> None:
    from bot.ranking.e5file import E5File, default_path
    from bot.training.reranker.batching import FrozenCache
    from bot.training.reranker.model import CrossEncoder

    model = CrossEncoder(E5File(default_path()))
    cache = FrozenCache(model, pad=1, frozen=6)
    rows = [(0, 5, 9, 2), (0, 7, 2)]
    hidden, mask = cache.batch(rows)  # computed together, padded to 4
    for i, r in enumerate(rows):
        ids = torch.tensor([r])
        alone = model.frozen_rows(ids, torch.ones((1, len(r))), 6)[0]
        assert torch.allclose(hidden[i, : len(r)], alone, atol=0.05)  # bfloat16 storage
        assert mask[i].sum() == len(r)


def test_the_answer_rules_threshold_is_set_by_the_questions_marked_for_it() -> None:
    """Added questions the rule learns from (here: answerable ones the cross-encoder scores
    lower) move its threshold only when they are marked to set it."""
    from bot.training.reranker.calibration import Scored, fit_rule
    from bot.training.reranker.candidates import CandidateList

    rng = np.random.default_rng(0)

    def scored(top: float, answerable: bool) -> Scored:
        ce = np.sort(rng.normal(0.0, 1.0, 3))[::-1] + np.array([top, 0.0, 0.0])
        first = np.sort(rng.normal(0.0, 1.0, 3))[::-1]
        gold = np.array([answerable, False, False])
        lists = CandidateList("q", ("a", "b", "c"), first, gold, answerable, float(top))
        return Scored(lists, ce)

    def row(top: float) -> dict[str, Scored]:
        return {"own": scored(top, True), "other": scored(rng.normal(-2.0, 1.0), False)}

    rows = [row(rng.normal(3.0, 1.0)) for _ in range(200)]
    rows += [row(rng.normal(0.5, 1.0)) for _ in range(200)]
    file_only = [True] * 200 + [False] * 200
    all_rule, all_figures = fit_rule(rows, 3, 0.0)
    file_rule, file_figures = fit_rule(rows, 3, 0.0, operating=file_only)
    assert file_rule.abstain_below > all_rule.abstain_below
    assert file_figures["false_abstention"] == pytest.approx(0.025, abs=0.01)
    assert file_figures["false_abstention_added"] > 0.05
    assert "false_abstention_added" not in all_figures
    assert np.allclose(file_rule.coef, all_rule.coef)  # one model, two operating points


def test_an_answer_rule_can_leave_the_first_stages_evidence_out() -> None:
    """With the first stage's inputs ignored, the rule weighs them zero and still separates
    what the cross-encoder separates; an unknown name is refused."""
    from bot.ranking.crossencoder import apply_rule
    from bot.training.reranker.calibration import Scored, fit_rule
    from bot.training.reranker.candidates import CandidateList
    from bot.training.reranker.pipeline import FIRST_STAGE_EVIDENCE

    rng = np.random.default_rng(1)

    def scored(top: float, abstain_logit: float, answerable: bool) -> Scored:
        ce = np.sort(rng.normal(0.0, 1.0, 3))[::-1] + np.array([top, 0.0, 0.0])
        first = np.sort(rng.normal(0.0, 1.0, 3))[::-1]
        gold = np.array([answerable, False, False])
        return Scored(
            CandidateList("q", ("a", "b", "c"), first, gold, answerable, abstain_logit), ce
        )

    # here the first stage's abstainer tells the two apart better than the cross-encoder
    rows = [
        {
            "own": scored(rng.normal(2.0, 1.0), rng.normal(3.0, 0.5), True),
            "other": scored(rng.normal(0.0, 1.0), rng.normal(-3.0, 0.5), False),
        }
        for _ in range(300)
    ]
    both, _ = fit_rule(rows, 3, 0.0)
    alone, figures = fit_rule(rows, 3, 0.0, ignore=FIRST_STAGE_EVIDENCE)
    names = list(alone.features)
    for name in FIRST_STAGE_EVIDENCE:
        assert alone.coef[names.index(name)] == 0.0 and both.coef[names.index(name)] != 0.0
    # the cross-encoder's evidence alone refuses fewer questions about another passage
    assert 0.5 < figures["other_abstained"] < fit_rule(rows, 3, 0.0)[1]["other_abstained"]
    # the first stage's abstainer no longer moves the decision
    s = rows[0]["own"]
    decide = [
        apply_rule(alone, 0.0, s.ce, s.lists.first_stage, logit).answerable for logit in (-9, 9)
    ]
    assert decide[0] == pytest.approx(decide[1])
    with pytest.raises(ValueError, match="not an answer rule feature: bogus"):
        fit_rule(rows, 3, 0.0, ignore=("bogus",))
