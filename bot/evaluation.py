"""`articlebot eval`: answer every item of a Q&A file and score the answers.

Items with their own `context` are answered against that context only (each distinct context
is indexed as its own article, in a temporary store unless --store is given); the others
against --article (default: the bundled article).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot import __version__
from bot.engine import Engine
from bot.metrics import HEADLINE, Scored, exact_match, token_f1
from bot.qafile import QAItem, add_negatives, read_qa_file
from bot.records import Answer
from bot.settings import Settings
from index.errors import ArticlebotError, ConfigError
from index.records import Sentence

Notice = Callable[[str], None]


def fold(text: str) -> str:
    """NFC, case folding and whitespace folding: how evidence is compared."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def gold_ids(item: QAItem, sentences: Sequence[Sentence]) -> set[str]:
    """The sentences that hold the item's evidence or overlap its answer span."""
    gold: set[str] = set()
    evidence = [fold(e) for e in item.evidence if e.strip()]
    for s in sentences:
        text = fold(s.text)
        if any(e in text for e in evidence):
            gold.add(s.id)
        if any(s.start < sp.start + len(sp.text) and sp.start < s.end for sp in item.spans):
            gold.add(s.id)
    return gold


@dataclass(frozen=True)
class Outcome:
    """One evaluated item: its answer record (or error) and its score."""

    item: QAItem
    record: dict[str, Any]
    scored: Scored
    gold: tuple[str, ...]


def score(item: QAItem, answer: Answer | None, gold: set[str], error: str | None,
          latency_ms: float | None) -> Outcome:
    """Score one answer against its item's gold."""
    if answer is None:
        record: dict[str, Any] = {"id": item.id, "question": item.question, "error": error}
        scored = Scored(answerable=item.answerable, abstained=False, error=True, gold_ranks=(),
                        cited_gold=(), n_gold=len(gold), gold_cited=0, has_gold=bool(gold),
                        exact_match=0.0 if item.answers else None,
                        f1=0.0 if item.answers else None, latency_ms=None)
        return Outcome(item, record, scored, tuple(sorted(gold)))
    record = answer.to_record()
    ranks = tuple(i for i, r in enumerate(answer.ranking, start=1) if r.sentence.id in gold)
    support = [c for c in answer.citations if c.support]
    cited = tuple(c.sentence.id in gold for c in support)
    predicted = answer.short_answer or answer.answer
    answerable_scored = item.answerable and bool(item.answers) and not answer.abstained
    em = exact_match(predicted, item.answers) if item.answers else None
    f1 = token_f1(predicted, item.answers) if item.answers else None
    if item.answers and answer.abstained:
        em, f1 = 0.0, 0.0
    del answerable_scored
    scored = Scored(answerable=item.answerable, abstained=answer.abstained, error=False,
                    gold_ranks=ranks, cited_gold=cited, n_gold=len(gold),
                    gold_cited=len({c.sentence.id for c in support} & gold),
                    has_gold=bool(gold), exact_match=em, f1=f1, latency_ms=latency_ms)
    return Outcome(item, record, scored, tuple(sorted(gold)))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@contextlib.contextmanager
def _eval_settings(settings: Settings, items: Sequence[QAItem]) -> Iterator[Settings]:
    """Contexts go into a temporary store unless a store was chosen explicitly."""
    if any(i.context is not None for i in items) and "store" not in settings.model_fields_set:
        with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp:
            yield settings.model_copy(update={"store": Path(tmp)})
    else:
        yield settings


def evaluate(items: Sequence[QAItem], engine: Engine, notice: Notice,
             progress: bool = True) -> list[Outcome]:
    """Answer and score every item."""
    default_article: str | None = None
    outcomes = []
    sentences_of: dict[str, Sequence[Sentence]] = {}
    for item in tqdm(items, desc="eval", unit="q", file=sys.stderr,
                     disable=not progress or len(items) < 20):
        error: str | None = None
        answer: Answer | None = None
        gold: set[str] = set()
        t0 = time.perf_counter()
        try:
            if item.context is not None:
                article_id = engine.index_text(item.context)
            else:
                if default_article is None:
                    default_article = engine.resolve_article(notice=notice)
                article_id = default_article
            if article_id not in sentences_of:
                sentences_of[article_id] = engine.answerer(article_id).sentences
            gold = gold_ids(item, sentences_of[article_id])
            t0 = time.perf_counter()
            answer = engine.ask(item.question, article_id, item_id=item.id)
        except ArticlebotError as exc:
            error = str(exc)
        latency = (time.perf_counter() - t0) * 1000
        outcomes.append(score(item, answer, gold, error, latency if answer else None))
    return outcomes


def run_eval(args: argparse.Namespace, settings: Settings, notice: Notice) -> int:
    """Run `articlebot eval`; returns the exit code."""
    from bot.report import write_outputs

    gates = parse_gates(args.fail_under)
    qa = read_qa_file(Path(args.file), skip_invalid=args.skip_invalid)
    for warning in qa.warnings[:5]:
        notice(f"warning: {warning}")
    for problem in qa.skipped:
        notice(f"skipped: {problem}")
    items = add_negatives(qa.items, args.seed) if args.add_negatives else qa.items
    if args.limit is not None:
        items = items[:args.limit]
    with _eval_settings(settings, items) as run_settings:
        engine = Engine(run_settings)
        started = time.perf_counter()
        outcomes = evaluate(items, engine, notice)
        elapsed = time.perf_counter() - started
    meta = {"version": __version__, "git_commit": _git_commit(),
            "embedder": engine.embedder_spec, "input": str(args.file),
            "input_sha256": qa.sha256, "seed": args.seed,
            "add_negatives": bool(args.add_negatives), "elapsed_s": round(elapsed, 2),
            "settings": {"max_citations": settings.max_citations,
                         "ranking_size": settings.ranking_size, "llm": settings.llm,
                         "llm_model": settings.llm_model,
                         "ranker": engine.ranker().meta.get("source", "trained")}}
    summary = write_outputs(Path(args.out), outcomes, meta, n_skipped=len(qa.skipped),
                            seed=args.seed, baseline=args.baseline)
    failed = [f"{name} = {summary[name]} < {value}" for name, value in gates
              if summary.get(name) is None or summary[name] < value]
    headline = ", ".join(f"{k}={summary[k]:.3f}" for k in ("hit_at_1", "hit_at_3", "mrr",
                                                           "abstention_recall", "coverage")
                         if summary.get(k) is not None)
    notice(f"{len(outcomes)} items -> {args.out}: {headline}")
    for line in failed:
        print(f"articlebot: gate failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def parse_gates(specs: Sequence[str]) -> list[tuple[str, float]]:
    """Parse --fail-under METRIC=VALUE options."""
    gates = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or name not in HEADLINE:
            raise ConfigError(f"--fail-under {spec!r}: expected METRIC=VALUE with METRIC one "
                              f"of {', '.join(HEADLINE)}")
        try:
            gates.append((name, float(value)))
        except ValueError:
            raise ConfigError(f"--fail-under {spec!r}: {value!r} is not a number") from None
    return gates


def dump_json(data: Any) -> str:
    """JSON for the output files (UTF-8, stable key order as given)."""
    return json.dumps(data, ensure_ascii=False, indent=2)
