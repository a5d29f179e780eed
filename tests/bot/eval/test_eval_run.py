"""`articlebot eval --jobs N` and `--resume`, through the real CLI in a subprocess: worker
processes give the figures of one process, a run killed with SIGKILL and resumed gives the
figures of an uninterrupted run, a torn last journal line is asked again, and a journal of
another run or a bad --jobs is refused in one line."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTICLE, DEV_QA, REPO, dataset, run_cli

DEV = DEV_QA


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env["XDG_DATA_HOME"] = str(root / "xdg")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _untimed(value: Any) -> Any:
    """A summary without what a clock decides: latencies, elapsed time, start time."""
    if isinstance(value, dict):
        return {
            k: _untimed(v)
            for k, v in value.items()
            if not k.startswith("latency_ms") and k not in ("elapsed_s", "started_at")
        }
    return value


def _figures(out: Path) -> tuple[Any, list[dict[str, str]], list[dict[str, Any]]]:
    """summary.json, items.csv and predictions.jsonl of a run, without their timings."""
    summary = _untimed(json.loads((out / "summary.json").read_text(encoding="utf-8")))
    with (out / "items.csv").open(encoding="utf-8", newline="") as fh:
        rows = [{k: v for k, v in r.items() if k != "latency_ms"} for r in csv.DictReader(fh)]
    preds = [json.loads(line) for line in (out / "predictions.jsonl").open(encoding="utf-8")]
    for p in preds:
        p.pop("timings_ms")
    return summary, rows, preds


def _journal_lines(out: Path) -> list[bytes]:
    return (out / "items.jsonl").read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, shared_store: Path) -> tuple[Path, Path]:
    """One uninterrupted --jobs 1 run of the dev file: (its --out, the store it used)."""
    root = tmp_path_factory.mktemp("reference")
    out = root / "out"
    r = run_cli(["eval", str(DEV), "--out", str(out), "--store", str(shared_store)], _env(root))
    assert r.returncode == 0, r.stderr
    return out, shared_store


@pytest.mark.slow
def test_jobs_2_gives_the_figures_of_jobs_1(reference: tuple[Path, Path], tmp_path: Path) -> None:
    ref, store = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / "items.jsonl").write_text("an older run's journal\n")  # replaced, as without it
    r = run_cli(
        ["eval", str(DEV), "--out", str(out), "--store", str(store), "--jobs", "2"], _env(tmp_path)
    )
    assert r.returncode == 0, r.stderr
    assert _figures(out) == _figures(ref)
    ids = [json.loads(line)["id"] for line in _journal_lines(out)[1:]]
    assert sorted(ids) == sorted(json.loads(line)["id"] for line in _journal_lines(ref)[1:])


@pytest.mark.slow
def test_jobs_2_with_contexts_and_negatives_gives_the_figures_of_jobs_1(tmp_path: Path) -> None:
    rows = [
        json.loads(line) for line in dataset("norquad", "validation.jsonl").open(encoding="utf-8")
    ][:8]
    qa = tmp_path / "nq.jsonl"
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        r = run_cli(
            ["eval", str(qa), "--out", str(out), "--add-negatives", "--jobs", jobs, "-q"],
            _env(tmp_path),
        )
        assert r.returncode == 0 and r.stderr == "", r.stderr
        outs.append(out)
    one, two = _figures(outs[0]), _figures(outs[1])
    assert one == two
    assert one[0]["counts"]["n_total"] == 16  # eight items and their negatives


@pytest.mark.slow
def test_a_run_killed_part_way_then_resumed_gives_the_uninterrupted_figures(
    reference: tuple[Path, Path], tmp_path: Path
) -> None:
    from bot.eval.report import OUTPUT_FILES

    ref, store = reference
    out = tmp_path / "out"
    out.mkdir()
    earlier = [name for name in OUTPUT_FILES if (ref / name).exists()]
    assert "summary.json" in earlier and "report.md" in earlier
    for name in earlier:  # an earlier run's results, without its journal
        shutil.copy(ref / name, out / name)
    args = [sys.executable, "-m", "bot", "eval", str(DEV), "--out", str(out), "--store", str(store)]
    proc = subprocess.Popen(
        args,
        env=_env(tmp_path),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "items.jsonl").exists() and len(_journal_lines(out)) >= 1 + 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    kept = len(_journal_lines(out)) - 1
    assert 5 <= kept < 24
    # none of the earlier run's results is left beside this run's partial journal
    assert not [name for name in OUTPUT_FILES if (out / name).exists()]
    r = run_cli([*args[3:], "--resume"], _env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (
        f"resuming: {kept - 1} of 24 items" in r.stderr
        or f"resuming: {kept} of 24 items" in r.stderr
    )  # the last line may have been torn
    assert _figures(out) == _figures(ref)
    ref_summary = json.loads((ref / "summary.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["meta"].keys() == ref_summary["meta"].keys()
    assert len(_journal_lines(out)) == 1 + 24


@pytest.mark.slow
def test_a_torn_last_line_is_dropped_and_its_item_asked_again(
    reference: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, store = reference
    out = tmp_path / "out"
    out.mkdir()
    lines = _journal_lines(ref)
    torn = lines[11][: len(lines[11]) // 2]  # the eleventh item, cut short by a kill
    (out / "items.jsonl").write_bytes(b"".join(lines[:11]) + torn)
    r = run_cli(
        ["eval", str(DEV), "--out", str(out), "--store", str(store), "--resume", "--jobs", "2"],
        _env(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "resuming: 10 of 24 items" in r.stderr
    assert _figures(out) == _figures(ref)
    after = _journal_lines(out)
    assert after[:11] == lines[:11] and len(after) == 1 + 24
    assert all(line.endswith(b"\n") and json.loads(line) for line in after)


@pytest.mark.slow
def test_a_finished_journal_resumes_without_asking_anything(
    reference: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / "items.jsonl").write_bytes((ref / "items.jsonl").read_bytes())
    r = run_cli(
        ["eval", str(DEV), "--out", str(out), "--store", str(tmp_path / "none"), "--resume"],
        _env(tmp_path),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert _figures(out) == _figures(ref)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    ref_summary = json.loads((ref / "summary.json").read_text(encoding="utf-8"))
    assert summary["latency_ms_p50"] == ref_summary["latency_ms_p50"]  # the journal's
    assert not (tmp_path / "none").exists()  # no engine was opened


@pytest.mark.slow
def test_a_journal_of_another_run_is_refused_in_one_line(
    reference: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, store = reference
    out = tmp_path / "out"
    out.mkdir()
    journal = (ref / "items.jsonl").read_bytes()
    other = tmp_path / "other.jsonl"
    other.write_bytes(DEV.read_bytes().replace(b"d01", b"e01"))
    cases = [
        ([str(other)], "was written for another input file"),
        ([str(DEV), "--limit", "5"], "was written with other settings (limit: None then, 5 now)"),
        ([str(DEV), "--embedder", "st:x"], "was written with other settings (embedder:"),
        ([str(DEV), "--seed", "1"], "was written with other settings (seed: 0 then, 1 now)"),
    ]
    for args, expected in cases:
        (out / "items.jsonl").write_bytes(journal)
        r = run_cli(
            ["eval", *args, "--out", str(out), "--store", str(store), "--resume"],
            _env(tmp_path),
            timeout=120,
        )
        assert (r.returncode, r.stdout) == (2, ""), r.stderr
        assert r.stderr.startswith(
            f"articlebot: error: --resume: {out / 'items.jsonl'}: {expected}"
        ), r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert (out / "items.jsonl").read_bytes() == journal  # left as it was
    (out / "items.jsonl").write_bytes(b"not a journal\n")
    r = run_cli(
        ["eval", str(DEV), "--out", str(out), "--store", str(store), "--resume"],
        _env(tmp_path),
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "not an articlebot eval journal" in r.stderr


@pytest.mark.parametrize("jobs", ["0", "-3", "33"])
def test_jobs_out_of_range_are_refused(tmp_path: Path, jobs: str) -> None:
    r = run_cli(
        ["eval", str(DEV), "--out", str(tmp_path / "out"), "--jobs", jobs],
        _env(tmp_path),
        timeout=120,
    )
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"articlebot: error: --jobs must be from 1 to 32, not {jobs}\n"
    assert not (tmp_path / "out").exists()


# -- the journal in process -------------------------------------------------------------------


def _outcome_lines() -> tuple[list[Any], list[dict[str, Any]]]:
    from bot.eval.journal import entry
    from bot.eval.outcome import score
    from bot.eval.qafile import QAItem

    items = [
        QAItem(id="a", question="Hvem \udfff kom?", answers=("Putin",)),
        QAItem(id="b", question="Hva?", answerable=False),
        QAItem(id="c", question="Hvor?", evidence=("Moskva",)),
    ]
    outcomes = [
        score(item, None, {"x:2", "x:10"}, f"boom {i} \ud800", 0.1 * (i + 1) / 3, ["to", "ti"], "x")
        for i, item in enumerate(items)
    ]
    return items, [entry(n, o) for n, o in enumerate(outcomes)]


def _header() -> dict[str, Any]:
    from bot.eval.journal import fingerprint
    from bot.settings import Settings

    return fingerprint(
        Settings(),
        version="t",
        input_sha256="ab" * 32,
        limit=None,
        add_negatives=False,
        seed=0,
        skip_invalid=False,
        n_items=3,
    )


def test_a_journal_line_gives_back_the_outcome_it_was_made_from(tmp_path: Path) -> None:
    from bot.eval.journal import Journal, outcome_of, read
    from bot.eval.outcome import score

    items, lines = _outcome_lines()
    journal = Journal.start(tmp_path / "items.jsonl", _header())
    for line in lines:
        journal.append(line)
    journal.close()
    _, done = read(tmp_path / "items.jsonl", _header(), items)
    for n, item in enumerate(items):
        again = outcome_of(item, done[n])
        first = score(
            item, None, {"x:2", "x:10"}, f"boom {n} \ud800", 0.1 * (n + 1) / 3, ["to", "ti"], "x"
        )
        assert again == first  # floats, a lone surrogate and the gold order survive


def test_reading_a_journal_drops_a_torn_last_line_and_refuses_a_broken_one(tmp_path: Path) -> None:
    from bot.eval.journal import Journal, has_header, read
    from core.errors import ConfigError

    items, lines = _outcome_lines()
    path = tmp_path / "items.jsonl"
    journal = Journal.start(path, _header())
    for line in lines:
        journal.append(line)
    journal.close()
    whole = path.read_bytes()
    cut = whole[: whole.rindex(b"\n", 0, len(whole) - 1) + 1]  # the last line removed
    path.write_bytes(cut + whole[len(cut) : -20])  # ... and put back, torn
    good, done = read(path, _header(), items)
    assert good == len(cut) and sorted(done) == [0, 1]
    journal, done = Journal.resume(path, _header(), items)
    journal.append(lines[2])
    journal.close()
    assert path.read_bytes() == whole  # the torn piece was cut off before the append
    path.write_bytes(cut.replace(b'"n": 1', b'"n": 7'))  # a place the run does not have
    with pytest.raises(ConfigError, match=r"items.jsonl:3: not a journal line"):
        read(path, _header(), items)
    path.write_bytes(whole[:40])  # killed before the header's newline: nothing to resume
    assert not has_header(path) and not has_header(tmp_path / "none.jsonl")


def test_eval_across_all_articles_scores_each_item_against_its_own(tmp_path: Path) -> None:
    """`--article all` indexes every context first and asks each question across all of
    them: the records say "all" and name each citation's article, and a hit needs the own
    article's gold sentence, so it can never beat asking each item of its own context."""
    rows = [
        json.loads(line)
        for line in dataset("norquad", "validation.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    picked, contexts = [], set()
    for row in rows:  # two questions each of three passages
        if row["context"] in contexts and sum(r["context"] == row["context"] for r in picked) >= 2:
            continue
        if len(contexts) < 3 or row["context"] in contexts:
            contexts.add(row["context"])
            picked.append(row)
        if len(picked) == 6:
            break
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8"
    )
    env = _env(tmp_path)
    done = run_cli(
        ["eval", str(qa), "--out", str(tmp_path / "all"), "--article", "all", "-q"],
        env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    own = run_cli(["eval", str(qa), "--out", str(tmp_path / "own"), "-q"], env, timeout=900)
    assert own.returncode == 0, own.stderr
    across, _, preds = _figures(tmp_path / "all")
    alone, _, _ = _figures(tmp_path / "own")
    assert all(p["article"] == "all" for p in preds)
    cited = [c for p in preds for c in p["citations"]]
    assert cited and all(c["sentence_id"].startswith(c["article"] + ":") for c in cited)
    assert len({c["article"] for c in cited}) >= 2  # the passages answer their own questions
    assert across["hit_at_1"] <= alone["hit_at_1"]


def test_items_name_their_article_file_carry_a_history_and_a_category(tmp_path: Path) -> None:
    """An item's `article` file is indexed and answered from (found relative to the Q&A
    file's folder), its `history` goes through the chat's follow-up rule (with it, the pronoun
    question is answered from Radtsjenko's sentence, which scores higher than for the question
    alone), and its `category` groups the figures."""
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "ferje.txt").write_text(
        "Innenriks\nFerja kan bli lagt ned\nFylket vil spare penger.\n"
        "Den siste ferja går i dag klokka 23.40. Det bor 612 mennesker på øya.\n",
        encoding="utf-8",
    )
    radtsjenko = "Radtsjenko, som er professor ved Henry A Kissinger Center"
    history = [
        {"role": "user", "content": "Hvem er Sergej Radtsjenko?"},
        {"role": "assistant", "content": "Han er en russiskfødt analytiker."},
    ]
    rows = [
        {
            "id": "ferje",
            "question": "Hvor mange bor på øya?",
            "evidence": ["612 mennesker"],
            "article": "articles/ferje.txt",
            "category": "messy",
        },
        {
            "id": "followup",
            "question": "Hvor jobber han?",
            "evidence": [radtsjenko],
            "article": str(ARTICLE),
            "history": history,
            "category": "followup",
        },
        {
            "id": "alone",
            "question": "Hvor jobber han?",
            "evidence": [radtsjenko],
            "article": str(ARTICLE),
            "category": "followup",
        },
    ]
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    r = run_cli(["eval", str(qa), "--out", str(tmp_path / "out"), "-q"], _env(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    preds = {
        p["id"]: p
        for p in map(
            json.loads,
            (tmp_path / "out" / "predictions.jsonl").read_text(encoding="utf-8").splitlines(),
        )
    }
    assert preds["ferje"]["article"] == "ferje" and preds["followup"]["article"] == "article"
    ferje = [
        line
        for line in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()
        if '"id": "ferje"' in line
    ]
    assert json.loads(ferje[0])["gold"] == ["ferje:5"]  # its gold is in its own article
    top = {i: p["ranking"][0]["sentence_id"] if p["ranking"] else None for i, p in preds.items()}
    assert top["followup"] == "article:10" and not preds["followup"]["abstained"]

    # the history is what names "han": with it his sentence scores higher than without
    def score(item: str) -> float:
        ranking = preds[item]["ranking"]
        return max((r["score"] for r in ranking if r["sentence_id"] == "article:10"), default=-1e9)

    assert score("followup") > score("alone")
    assert set(summary["by_category"]) == {"messy", "followup"}
    assert summary["by_category"]["followup"]["n"] == 2
    hits = [top[i] == "article:10" and not preds[i]["abstained"] for i in ("followup", "alone")]
    assert summary["by_category"]["followup"]["hit_at_1"] == sum(hits) / 2
    # article files go into a temporary store, as contexts do, not the user's
    assert not (tmp_path / "xdg" / "articlebot" / "store").exists()


def test_worker_units_keep_each_article_files_items_together() -> None:
    """With --jobs, one worker answers all items of one article file (indexed once there);
    items on the default article go in batches."""
    from bot.eval.answering import units
    from bot.eval.qafile import QAItem

    items = [
        QAItem(id=str(n), question="q?", article=a)
        for n, a in enumerate(["/x.txt", None, "/y.txt", "/x.txt", None])
    ]
    assert [[n for n, _ in unit] for unit in units(list(enumerate(items)))] == [[0, 3], [1, 4], [2]]
