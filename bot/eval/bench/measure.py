"""articlebot's own figures on one article: index build, re-index, warm latency with the
stage split, the embedding floor, and cold `ask` runs in new processes.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.eval.bench.child import checked, child_env, python_module, run_child
from bot.eval.bench.figures import SystemFigures, cycle, median, percentile

if TYPE_CHECKING:
    from bot.settings import Settings

Notice = Callable[[str], None]


def bench_settings(settings: Settings, store: Path) -> Settings:
    """The default answering path over a temporary store (no LLM, no configured article)."""
    return settings.model_copy(
        update={"store": store, "article": None, "llm": None, "chroma_url": None}
    )


def measure_articlebot(
    settings: Settings,
    article: Path,
    questions: Sequence[str],
    n_warm: int,
    cold_runs: int,
    build_runs: int,
    work: Path,
    notice: Notice,
) -> tuple[SystemFigures, dict[str, float]]:
    """articlebot's figures on one article; also the embedding floor and the stage split."""
    from bot.engine import Engine
    from index.embedder import make_embedder

    store = work / "articlebot-store"
    engine = Engine(bench_settings(settings, store))
    t0 = time.perf_counter()
    embedder = make_embedder(engine.embedder_spec)
    embedder.embed_query_array("warm up")
    model_load = time.perf_counter() - t0
    engine.articles()  # open the store: the build below is the indexing alone

    builds = []
    for i in range(max(1, build_runs)):
        t0 = time.perf_counter()
        result = engine.index_files([article], rebuild=i > 0)[0]
        builds.append(time.perf_counter() - t0)
    notice(
        f"articlebot: index build {median(builds):.3f} s ({result.manifest.sentence_count} "
        "sentences)"
    )
    reindex = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine.index_files([article])
        reindex.append(time.perf_counter() - t0)

    article_id = result.article.id
    cited, split_retrieve, split_answer, split_rerank = [], [], [], []
    for q in questions:  # warm-up: loads the answerer; records what each answer cites
        answer = engine.ask(q, article_id)
        if not answer.abstained:
            cited.append(float(sum(len(c.sentence.text) for c in answer.citations)))
    latencies = []
    cpu0 = time.process_time()
    for q in cycle(questions, n_warm):
        t0 = time.perf_counter()
        answer = engine.ask(q, article_id)
        latencies.append((time.perf_counter() - t0) * 1000)
        split_retrieve.append(answer.timings_ms.get("retrieve", 0.0))
        split_answer.append(answer.timings_ms.get("answer", 0.0))
        split_rerank.append(answer.timings_ms.get("rerank", 0.0))
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, n_warm)
    floor = []
    for q in cycle(questions, min(n_warm, 100)):
        t0 = time.perf_counter()
        embedder.embed_query_array(q)
        floor.append((time.perf_counter() - t0) * 1000)
    notice(f"articlebot: warm p50 {percentile(latencies, 50):.1f} ms over {n_warm} questions")

    runs = []
    for _ in range(max(1, cold_runs)):
        cmd = python_module(
            "bot",
            "ask",
            questions[0],
            "--store",
            str(store),
            "--embedder",
            engine.embedder_spec,
            "--json",
            "-q",
        )
        runs.append(checked(run_child(cmd, env=child_env()), "a cold `articlebot ask`"))
        json.loads(runs[-1].stdout)  # it answered with the record
    notice(f"articlebot: cold start {median([r.wall_s for r in runs]):.2f} s")
    figures = SystemFigures(
        name="articlebot",
        model_load_s=model_load,
        index_build_s=median(builds),
        reindex_unchanged_s=median(reindex),
        cold_start_s=median([r.wall_s for r in runs]),
        cold_start_runs_s=tuple(r.wall_s for r in runs),
        warm_p50_ms=percentile(latencies, 50),
        warm_p95_ms=percentile(latencies, 95),
        warm_mean_ms=statistics.fmean(latencies),
        warm_cpu_ms=cpu_ms,
        questions_timed=len(latencies),
        peak_rss_mb=max(r.max_rss_mb for r in runs),
        cited_chars=statistics.fmean(cited) if cited else 0.0,
        units=result.manifest.sentence_count,
    )
    # The query embedding is the floor no pipeline around it can go below; what is left is
    # ours (retrieval, features, ranking, answer, chain).
    split = {
        "embed_query_p50_ms": percentile(floor, 50),
        "retrieve_p50_ms": percentile(split_retrieve, 50),
        "rerank_p50_ms": percentile(split_rerank, 50),
        "answer_p50_ms": percentile(split_answer, 50),
        "beyond_embedding_p50_ms": percentile(latencies, 50) - percentile(floor, 50),
    }
    return figures, split
