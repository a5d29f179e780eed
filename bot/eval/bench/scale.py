"""`bench --scale`: one store per backend grown to each size, with write throughput,
per-question latency (one article, all articles, the whole answer, across articles),
cold `ask` runs, memory and size on disk at each size.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answer_records import ALL_ARTICLES
from bot.eval.bench.child import checked, child_env, dir_mb, python_module, rss_mb, run_child
from bot.eval.bench.chroma_server import ChromaServer
from bot.eval.bench.corpus import ScaleArticle, prepare_scale_articles, scale_articles
from bot.eval.bench.figures import percentile
from bot.eval.bench.measure import bench_settings

if TYPE_CHECKING:
    from bot.settings import Settings

Notice = Callable[[str], None]


def _latency(
    store: Any,
    engine: Any,
    items: Sequence[ScaleArticle],
    qvecs: dict[str, Any],
    n_warm: int,
    across: bool = False,
) -> dict[str, float]:
    """Per-question latencies over the questions of `items`, each against its own article:
    the store's `search` with a `where` on the article, `search` over every article, and
    the engine's whole answer (its index of the article loaded once, as a chat has it); with
    `across`, also the whole answer across every article."""
    pairs = [(q, item.article.id) for item in items for q in item.questions[:3]]
    cycle = [pairs[i % len(pairs)] for i in range(n_warm)]

    def timed(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    store.search(qvecs[cycle[0][0]], 5)  # the first call pays for opening the collections
    one = [timed(functools.partial(store.search, qvecs[q], 5, [a])) for q, a in cycle]
    every = [timed(functools.partial(store.search, qvecs[q], 5)) for q, _ in cycle]
    for q, a in pairs:
        engine.ask(q, a)  # load every article's answerer first
    asks, cpu = [], []
    for q, a in cycle:
        c0 = time.process_time()  # all threads: steadier than wall time on a busy machine
        asks.append(timed(functools.partial(engine.ask, q, a)))
        cpu.append((time.process_time() - c0) * 1000)
    out = {
        "one_article_p50_ms": percentile(one, 50),
        "one_article_p95_ms": percentile(one, 95),
        "all_articles_p50_ms": percentile(every, 50),
        "all_articles_p95_ms": percentile(every, 95),
        "warm_p50_ms": percentile(asks, 50),
        "warm_p95_ms": percentile(asks, 95),
        "warm_cpu_p50_ms": percentile(cpu, 50),
    }
    if across:
        # the whole answer across every article (`--article all`): route, rank the
        # candidate articles, answer; and how often the question's own article answers
        wall, own = [], 0
        for q, a in cycle:
            t0 = time.perf_counter()
            answer = engine.ask(q, ALL_ARTICLES)
            wall.append((time.perf_counter() - t0) * 1000)
            own += bool(answer.citations) and answer.citations[0].sentence.article_id == a
        out.update(
            all_ask_p50_ms=percentile(wall, 50),
            all_ask_p95_ms=percentile(wall, 95),
            all_own_article=own / len(cycle) if cycle else 0.0,
        )
    return out


def _write_articles(store: Any, items: Sequence[ScaleArticle], spec: str, desc: str) -> int:
    """Index prepared articles into `store` under one writer lock; their sentence count."""
    from tqdm import tqdm

    from index.chunk import CHUNKER_VERSION

    with store.writer():
        for item in tqdm(items, desc=desc, unit="article", file=sys.stderr, dynamic_ncols=True):
            store.write_index(item.article, list(item.chunks), item.vectors, spec, CHUNKER_VERSION)
    return sum(len(item.chunks) for item in items)


def measure_scale(
    settings: Settings,
    sizes: Sequence[int],
    n_warm: int,
    work: Path,
    notice: Notice,
    norquad: Path,
    cache: Path | None = None,
    backends: Sequence[str] = ("embedded", "server"),
) -> list[dict[str, Any]]:
    """Grow one store per backend (embedded, and a `chroma run` server started here) to each
    size in turn. Per size: write throughput (vectors come from the cache, so this is the
    store's own speed), per-question p50/p95 for one article and for all articles, the
    engine's warm answer, a cold `ask`, RSS, size on disk. Each store is measured first
    while it holds only the probe article: the `vs_one_article` ratios compare with that."""
    from bot.engine import Engine
    from index.embedder import make_embedder
    from index.store import Store
    from index.vectorcache import embed_questions

    sizes = sorted(set(sizes))
    spec = Engine(bench_settings(settings, work / "unused")).embedder_spec
    embedder = make_embedder(spec)
    items = prepare_scale_articles(scale_articles(max(sizes), norquad), embedder, cache, notice)
    probe_at = min(1, len(items) - 1)
    probe = items[probe_at]  # an article every size holds
    picks = {size: sorted({round(i * (size - 1) / 19) for i in range(20)}) for size in sizes}
    asked = {i for chosen in picks.values() for i in chosen} | {probe_at}
    questions = sorted({q for i in asked for q in items[i].questions[:3]})
    qvecs = dict(zip(questions, embed_questions(questions, embedder, cache), strict=True))
    rows: list[dict[str, Any]] = []
    for backend in backends:
        with contextlib.ExitStack() as stack:
            url = None
            server: ChromaServer | None = None
            if backend == "server":
                server = stack.enter_context(ChromaServer(work / f"{backend}-server"))
                url = server.url
            base = bench_settings(settings, work / f"{backend}-store").model_copy(
                update={"chroma_url": url}
            )
            store = Store(base.store, chroma_url=url)
            # The baseline: the same store while it holds the probe article alone (a server
            # has one store, so a separate one-article store would share its collections).
            _write_articles(store, [probe], spec, f"{backend}: one-article store")
            baseline = _latency(store, Engine(base), [probe], qvecs, n_warm)
            done = 0
            for size in sizes:
                t0 = time.perf_counter()
                sentences = _write_articles(
                    store, items[done:size], spec, f"{backend}: index to {size}"
                )
                seconds = time.perf_counter() - t0
                new = size - done
                done = size
                engine = Engine(base)  # a fresh engine: answerers load as in a new process
                spread = _latency(
                    store, engine, [items[i] for i in picks[size]], qvecs, n_warm, across=True
                )
                at_probe = _latency(store, engine, [probe], qvecs, n_warm)
                args = [
                    "ask",
                    probe.questions[0],
                    "--store",
                    str(base.store),
                    "--embedder",
                    spec,
                    "--article",
                    probe.article.id,
                    "--json",
                    "-q",
                    *(["--chroma-url", url] if url else []),
                ]
                cold = checked(
                    run_child(python_module("bot", *args), env=child_env()),
                    "a cold `articlebot ask` at scale",
                )
                args[args.index("--article") + 1] = "all"
                cold_all = checked(
                    run_child(python_module("bot", *args), env=child_env()),
                    "a cold `articlebot ask --article all` at scale",
                )
                row: dict[str, Any] = {
                    "backend": backend,
                    "articles": size,
                    "new_articles": new,
                    "new_sentences": sentences,
                    "index_s": seconds,
                    "sentences_per_s": sentences / seconds if seconds else 0.0,
                    **spread,
                    "probe_one_article_p50_ms": at_probe["one_article_p50_ms"],
                    "probe_warm_p50_ms": at_probe["warm_p50_ms"],
                    "one_article_store_search_p50_ms": baseline["one_article_p50_ms"],
                    "one_article_store_warm_p50_ms": baseline["warm_p50_ms"],
                    "search_vs_one_article": at_probe["one_article_p50_ms"]
                    / (baseline["one_article_p50_ms"] or 1.0),
                    "warm_vs_one_article": at_probe["warm_p50_ms"]
                    / (baseline["warm_p50_ms"] or 1.0),
                    "probe_warm_cpu_p50_ms": at_probe["warm_cpu_p50_ms"],
                    "one_article_store_warm_cpu_p50_ms": baseline["warm_cpu_p50_ms"],
                    "warm_cpu_vs_one_article": at_probe["warm_cpu_p50_ms"]
                    / (baseline["warm_cpu_p50_ms"] or 1.0),
                    "cold_start_s": cold.wall_s,
                    "peak_rss_mb": cold.max_rss_mb,
                    "cold_all_s": cold_all.wall_s,
                    "peak_rss_all_mb": cold_all.max_rss_mb,
                    "bench_rss_mb": rss_mb(),
                    "server_rss_mb": rss_mb(server.pid) if server else None,
                    "store_mb": dir_mb(server.data if server else base.store),
                    "load_avg_1m": os.getloadavg()[0],
                }
                rows.append(row)
                notice(
                    f"scale {backend} {size}: {row['sentences_per_s']:.0f} sentences/s, "
                    f"one article p50 {row['one_article_p50_ms']:.1f} ms, all articles p50 "
                    f"{row['all_articles_p50_ms']:.1f} ms, warm ask p50 "
                    f"{row['warm_p50_ms']:.1f} ms, ask all p50 {row['all_ask_p50_ms']:.1f} "
                    f"ms; {json.dumps(row)}"
                )
    for backend in backends:
        mine = [r for r in rows if r["backend"] == backend]
        first = (mine[0]["warm_p50_ms"] or 1.0) if mine else 1.0
        for row in mine:
            row["latency_vs_smallest"] = row["warm_p50_ms"] / first
    return rows
