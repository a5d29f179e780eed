"""`articlebot bench`: the real command in a subprocess, in its small modes.

A benchmark, not a test of speed: these check that the report holds every figure with the
right type and that the ratios and targets are filled in; no test asserts a timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.eval.bench.corpus import norquad_articles, scale_articles
from bot.eval.bench.run import parse_sizes
from bot.eval.bench.tables import TARGETS, render_table
from tests.conftest import dataset, run_cli

FIGURES = {
    "name": str,
    "model_load_s": float,
    "index_build_s": float,
    "cold_start_s": float,
    "cold_start_runs_s": list,
    "warm_p50_ms": float,
    "warm_p95_ms": float,
    "warm_mean_ms": float,
    "warm_cpu_ms": float,
    "questions_timed": int,
    "peak_rss_mb": float,
    "cited_chars": float,
    "units": int,
}


def _check_figures(fig: dict[str, Any]) -> None:
    for key, kind in FIGURES.items():
        assert isinstance(fig[key], kind), (key, fig[key])
    assert fig["warm_p50_ms"] <= fig["warm_p95_ms"]
    assert fig["peak_rss_mb"] > 10  # a Python process with a model loaded
    assert fig["units"] >= 1 and fig["cited_chars"] > 0


def test_bench_json_has_both_systems_ratios_and_targets(cli_env: dict[str, str]) -> None:
    proc = run_cli(
        ["bench", "--json", "--quick", "--questions", "5", "--cold-runs", "1"], cli_env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # one JSON object, progress on stderr
    report = json.loads(lines[0])
    ours, peer = report["articlebot"], report["tutorial"]
    _check_figures(ours)
    _check_figures(peer)
    assert ours["name"] == "articlebot" and peer["name"] == "langchain-tutorial"
    assert isinstance(ours["reindex_unchanged_s"], float) and peer["reindex_unchanged_s"] is None
    assert ours["questions_timed"] == peer["questions_timed"] == 5
    assert ours["units"] > peer["units"]  # sentences vs 1000-character chunks
    assert ours["cited_chars"] < peer["cited_chars"]  # single sentences vs a chunk
    for key in (
        "index_build_s",
        "cold_start_s",
        "warm_p50_ms",
        "warm_p95_ms",
        "warm_cpu_ms",
        "peak_rss_mb",
        "cited_chars",
    ):
        assert report["ratios"][key] == peer[key] / ours[key]
    assert [t["name"] for t in report["targets"]] == [t[0] for t in TARGETS]
    for t in report["targets"]:
        assert t["met"] == (t["measured"] <= t["target"])
    assert set(report["split_ms"]) == {
        "embed_query_p50_ms",
        "retrieve_p50_ms",
        "rerank_p50_ms",
        "answer_p50_ms",
        "beyond_embedding_p50_ms",
    }
    assert report["meta"]["question_tokens_mean"] > 5  # e5's tokens, "query: " included
    assert report["scale"] is None
    llm = report["llm_path"]  # time to first text against the scripted model server
    assert llm["backends"] == ["llm:scripted"] and llm["questions"] == 5
    assert llm["first_text_p50_ms"] < llm["final_p50_ms"]
    assert report["meta"]["cpus"] >= 1 and len(report["meta"]["load_avg_after"]) == 3
    table = render_table(report)  # what `bench` prints without --json
    assert "cold start to the first answer" in table and "<= 100 ms" in table
    assert f"{report['ratios']['cold_start_s']:.1f}x" in table
    assert "LLM path (scripted model" in table


def test_bench_scale_writes_rows_for_both_backends_and_plot(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    plot = tmp_path / "scale.png"
    cache = tmp_path / "vectors"
    args = [
        "bench",
        "--json",
        "--scale",
        "2,1",
        "--questions",
        "3",
        "--plot",
        str(plot),
        "--cache",
        str(cache),
        "--norquad",
        str(dataset("norquad", "train.jsonl").parent),
    ]
    proc = run_cli(args, cli_env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = report["scale"]
    assert [(r["backend"], r["articles"]) for r in rows] == [
        ("embedded", 1),
        ("embedded", 2),
        ("server", 1),
        ("server", 2),
    ]
    assert [r["new_articles"] for r in rows] == [1, 1, 1, 1]
    for r in rows:
        assert r["new_sentences"] > 0 and r["sentences_per_s"] > 0
        assert r["peak_rss_mb"] > 10 and r["store_mb"] > 0 and r["bench_rss_mb"] > 10
        for key in ("one_article", "all_articles", "warm", "all_ask"):
            assert 0 < r[f"{key}_p50_ms"] <= r[f"{key}_p95_ms"], (key, r)
        assert 0 <= r["all_own_article"] <= 1 and r["peak_rss_all_mb"] > 10
        assert r["warm_vs_one_article"] > 0 and r["search_vs_one_article"] > 0
        assert r["warm_cpu_vs_one_article"] > 0 and r["probe_warm_cpu_p50_ms"] > 0
    assert all(r["server_rss_mb"] > 10 for r in rows if r["backend"] == "server")
    assert all(r["server_rss_mb"] is None for r in rows if r["backend"] == "embedded")
    assert rows[0]["latency_vs_smallest"] == rows[2]["latency_vs_smallest"] == 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "all p50" in render_table(report)
    # the passages' vectors are cached by content hash: a rerun embeds nothing
    assert len(list(cache.glob("*.npy"))) >= 2
    again = run_cli([*args, "--no-server"], cli_env, timeout=900)
    assert again.returncode == 0, again.stderr
    assert ", 0 to embed" in again.stderr
    assert {r["backend"] for r in json.loads(again.stdout)["scale"]} == {"embedded"}


def test_bad_scale_is_one_line_exit_2(cli_env: dict[str, str]) -> None:
    proc = run_cli(["bench", "--scale", "ten"], cli_env)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--scale" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scale_sizes_and_enough_norquad_articles() -> None:
    assert parse_sizes("10,100,1000") == [10, 100, 1000]
    dataset("norquad", "train.jsonl")
    folder = dataset("norquad", "validation.jsonl").parent
    articles = norquad_articles(folder)
    assert len({text for text, _ in articles}) == len(articles) >= 1000
    assert all(questions for _, questions in articles)
    many = scale_articles(10_000, folder)  # copies with a closing line beyond the distinct ones
    assert len(many) == len({text for text, _ in many}) == 10_000
    assert many[len(articles) + 1][0].endswith("\n\nKopi 2.")
    assert all(questions for _, questions in many)
