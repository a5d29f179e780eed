"""`articlebot bench`: how fast articlebot is, with the LangChain tutorial default beside it.

This module runs what the options ask for; each part is a module of this package: `child`
(processes and their peak RSS), `figures`, `measure` (articlebot), `peer` (the tutorial
default), `corpus`, `scale` and `chroma_server` (`--scale`), `llm_path` (the model path),
`plots` and `tables` (the report).

Measured in one run, for both systems: the article's index build after the model is loaded,
cold start to the first answer (a new process with a pre-built store, interpreter start
included), per-question latency p50/p95 warm, and peak RSS of that cold `ask` process. The
peer is the LangChain RAG tutorial's default: RecursiveCharacterTextSplitter(1000, 200) +
Chroma + the packaged all-MiniLM-L6-v2, answering with its top chunk. `--scale 10,100,1000`
instead indexes that many NorQuAD passages (from the folder given with `--norquad`) as articles
into one store and reports indexing throughput and per-question latency and memory against the
store's size, with a plot.

A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.eval.bench.figures import bundled_questions, load_questions
from bot.eval.bench.measure import measure_articlebot
from bot.eval.bench.peer import measure_peer
from bot.eval.bench.plots import plot_scale
from bot.eval.bench.scale import measure_scale
from bot.eval.bench.tables import build_report
from core.errors import ConfigError

if TYPE_CHECKING:
    from bot.settings import Settings

Notice = Callable[[str], None]


def _default_cache() -> Path:
    """Where `bench --scale` keeps passage vectors by default."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "articlebot" / "vectors"


def parse_sizes(spec: str) -> list[int]:
    """`10,100,1000` -> [10, 100, 1000]."""
    try:
        sizes = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--scale {spec!r}: expected counts like 10,100,1000") from None
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--scale {spec!r}: expected counts like 10,100,1000")
    return sizes


def question_tokens(settings: Settings, questions: Sequence[str]) -> float | None:
    """The questions' mean length in the embedder's tokens (None when it cannot tell): a
    query embedding costs time linear in it, so it says which floor a figure sits on."""
    from bot.engine import Engine
    from index.embedder import make_embedder

    embedder = make_embedder(Engine(settings).embedder_spec)
    counts = [embedder.query_tokens(q) for q in questions]
    known = [c for c in counts if c is not None]
    return statistics.fmean(known) if known and len(known) == len(counts) else None


def run_bench(args: argparse.Namespace, settings: Settings, notice: Notice) -> dict[str, Any]:
    """Run the benchmark the options ask for and return its report."""
    from bot import __version__
    from bot.engine import bundled_article_path

    quick = bool(args.quick)
    n_warm = args.questions or (20 if quick else 200)
    cold_runs = args.cold_runs or (1 if quick else 3)
    meta: dict[str, Any] = {
        "version": __version__,
        "cpus": os.cpu_count(),
        "load_avg_before": list(os.getloadavg()),
        "embedder": settings.embedder,
        "quick": quick,
        "python": sys.version.split()[0],
    }
    ours = peer = None
    llm_path: dict[str, Any] | None = None
    split: dict[str, float] = {}
    scale = None
    work = Path(tempfile.mkdtemp(prefix="articlebot-bench-"))
    try:
        if args.scale:
            sizes = parse_sizes(args.scale)
            backends = ("embedded",) if args.no_server else ("embedded", "server")
            if not args.norquad:
                raise ConfigError(
                    "bench --scale needs --norquad DIR, the folder holding "
                    "NorQuAD's train.jsonl and validation.jsonl"
                )
            scale = measure_scale(
                settings,
                sizes,
                n_warm,
                work,
                notice,
                Path(args.norquad),
                cache=Path(args.cache) if args.cache else _default_cache(),
                backends=backends,
            )
            if args.plot:
                plot_scale(scale, Path(args.plot))
                notice(f"wrote {args.plot}")
        else:
            article = Path(settings.article) if settings.article else bundled_article_path()
            if not article.is_file():
                raise ConfigError(f"bench: --article must be a file here; {article} is not")
            questions = (
                load_questions(Path(args.questions_file))
                if args.questions_file
                else bundled_questions()
            )
            ours, split = measure_articlebot(
                settings, article, questions, n_warm, cold_runs, 1 if quick else 3, work, notice
            )
            meta["question_tokens_mean"] = question_tokens(settings, questions)
            if not args.no_peer:
                peer = measure_peer(article, questions, n_warm, cold_runs, work, notice)
            if not args.no_llm:
                from bot.eval.bench.llm_path import measure_llm_path

                notice("timing the language-model path against the scripted model ...")
                llm_path = measure_llm_path(
                    settings, work / "llm-store", questions[: 5 if quick else 20]
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["load_avg_after"] = list(os.getloadavg())
    report = build_report(ours, peer, split, scale, meta)
    report["llm_path"] = llm_path
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's own options."""
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--no-peer", action="store_true", help="skip the LangChain tutorial peer")
    p.add_argument(
        "--no-llm",
        action="store_true",
        help="skip the language-model path (timed against a scripted model server)",
    )
    p.add_argument("--questions", type=int, metavar="N", help="warm questions to time")
    p.add_argument(
        "--questions-file",
        metavar="FILE",
        help="JSONL questions (default: the bundled article's dev questions)",
    )
    p.add_argument("--cold-runs", type=int, metavar="N", help="cold starts to time each")
    p.add_argument(
        "--scale",
        metavar="N,N,...",
        help="instead: NorQuAD passages as articles in one store, e.g. 10,100,1000",
    )
    p.add_argument(
        "--norquad",
        metavar="DIR",
        help="with --scale: the folder holding NorQuAD's train.jsonl and validation.jsonl",
    )
    p.add_argument("--plot", metavar="PNG", help="with --scale: write the plot here")
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="with --scale: passage vectors cached here by content hash (the same "
        "files as the reranker's training cache); default under XDG_CACHE_HOME",
    )
    p.add_argument(
        "--no-server",
        action="store_true",
        help="with --scale: the embedded store only, no `chroma run` server",
    )
