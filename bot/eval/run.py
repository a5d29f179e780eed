"""`articlebot eval`: answer every item of a Q&A file and score the answers.

Items with their own `context` are answered against that context only (each distinct context
is indexed as its own article, in a temporary store unless --store is given); the others
against --article (default: the bundled article). Everything that can be checked before the
run (the gates, the baseline, every output file, the Q&A file) is checked first, so a bad
option never costs a full run; a write that still fails at the end leaves the other outputs
written and says which one failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.eval.metrics import (
    HEADLINE,
    LOWER_IS_BETTER,
    N_BOOTSTRAP,
)
from bot.eval.outcome import CONFIDENCE_SOURCE, Outcome, gold_ids, score
from bot.eval.qafile import QAItem, add_negatives, read_qa_file
from bot.outputs import writable_folder
from bot.records import Answer
from bot.settings import Settings
from index.errors import ArticlebotError, ConfigError
from index.records import Sentence

if TYPE_CHECKING:
    from bot.engine import Engine

Notice = Callable[[str], None]

def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


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
    """Answer and score every item, in order. A domain error on one item (an unusable
    question or context) makes that item an error that scores 0; the run goes on.

    Latency is the answer call alone (indexing a context is not part of it); one untimed
    warm-up question loads the models first, so the first item does not pay for them.
    """
    from tqdm import tqdm

    default_article: str | None = None
    sentences_of: dict[str, Sequence[Sentence]] = {}
    outcomes: list[Outcome] = []
    warmed = False
    for item in tqdm(items, desc="eval", unit="q", file=sys.stderr, dynamic_ncols=True,
                     disable=not progress or len(items) < 20):
        error: str | None = None
        answer: Answer | None = None
        gold: set[str] = set()
        gold_texts: list[str] = []
        article_id: str | None = None
        latency: float | None = None
        try:
            if item.context is not None:
                article_id = engine.index_text(item.context)
            else:
                if default_article is None:
                    default_article = engine.resolve_article(notice=notice)
                article_id = default_article
            if article_id not in sentences_of:
                sentences_of[article_id] = engine.sentences(article_id)
            sentences = sentences_of[article_id]
            gold = gold_ids(item, sentences)
            gold_texts = [s.text for s in sentences if s.id in gold]
            if not warmed:
                warmed = True
                with contextlib.suppress(ArticlebotError):
                    engine.ask(item.question, article_id)
            t0 = time.perf_counter()
            try:
                answer = engine.ask(item.question, article_id, item_id=item.id)
            finally:
                latency = (time.perf_counter() - t0) * 1000
        except ArticlebotError as exc:
            error = str(exc)
        outcomes.append(score(item, answer, gold, error, latency, gold_texts, article_id))
    return outcomes


def check_outputs(out: Path) -> None:
    """Check before the run that every output file can be written in `out`: it is (or can
    be made as) a directory we can create files in, and none of the files eval writes
    there, nor their temporary siblings, is a directory or another non-file. Raises
    ConfigError naming the first problem, so that a run that could not save its results
    fails before its first question, not after its last. Leaves nothing behind: directories
    made for the check are removed again (the outputs make them for real)."""
    from bot.eval.report import OUTPUT_FILES, TMP_SUFFIX

    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a directory")
    except OSError as exc:  # a name too long, a parent that is a file, ...
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    with writable_folder(out):
        for name in OUTPUT_FILES:
            for path in (out / name, out / (name + TMP_SUFFIX)):
                if path.is_dir():
                    raise ConfigError(f"--out {out}: {path.name} is a directory, so the "
                                      f"output file {name} cannot be written")
                if path.exists() and not path.is_file():
                    # writing to a FIFO would block, to a device would save nothing
                    raise ConfigError(f"--out {out}: {path.name} is not a regular file")


def load_baseline(path: str) -> dict[str, Any]:
    """A previous run's summary.json (checked to hold the headline metrics)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--baseline {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--baseline {path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--baseline {path}:{exc.lineno}:{exc.colno}: bad JSON: "
                          f"{exc.msg}") from None
    if not isinstance(data, dict) or not any(k in data for k in HEADLINE):
        raise ConfigError(f"--baseline {path}: not an articlebot summary.json")
    return data


def _settings_meta(settings: Settings) -> dict[str, Any]:
    """The settings that shape results (no secrets)."""
    dumped = settings.model_dump(mode="json",
                                 exclude={"chroma_token", "openai_api_key", "auth"})
    keep = ("embedder", "ranking_size", "max_citations", "max_question_chars", "llm",
            "llm_base_url", "llm_model", "chroma_url", "article")
    return {k: dumped.get(k) for k in keep}


def run_eval(args: argparse.Namespace, settings: Settings, notice: Notice) -> int:
    """Run `articlebot eval`; returns the exit code."""
    gates = parse_gates(args.fail_under)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    baseline = load_baseline(args.baseline) if args.baseline else None
    out = Path(args.out)
    check_outputs(out)
    qa = read_qa_file(Path(args.file), skip_invalid=args.skip_invalid)
    if importlib.util.find_spec("matplotlib") is None:
        notice("warning: no figures: matplotlib is not installed (pip install "
               "'articlebot[eval]')")
    for warning in qa.warnings:
        notice(f"warning: {warning}")
    for problem in qa.skipped[:20]:
        notice(f"skipped: {problem}")
    if len(qa.skipped) > 20:
        notice(f"skipped: ... {len(qa.skipped) - 20} more (see report.md)")
    items = qa.items[:args.limit] if args.limit is not None else qa.items
    if args.add_negatives:
        if not any(i.context is not None for i in items):
            notice("warning: --add-negatives does nothing here: no item carries a context")
        items = add_negatives(items, args.seed)
    from bot.engine import Engine  # after the cheap checks: it loads Chroma
    from bot.eval.report import comparison_table, write_outputs

    started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    with _eval_settings(settings, items) as run_settings:
        engine = Engine(run_settings)
        started = time.perf_counter()
        outcomes = evaluate(items, engine, notice, progress=not getattr(args, "quiet", False))
        elapsed = time.perf_counter() - started
        ranker = engine.ranker_source()
    commit = _git("rev-parse", "HEAD") or None
    dirty = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    meta = {"version": __version__, "git_commit": commit,
            "git_dirty": bool(dirty) if dirty is not None else None,
            "embedder": engine.embedder_spec, "ranker": ranker,
            "input": str(args.file), "input_sha256": qa.sha256, "input_format": qa.format,
            "seed": args.seed, "n_bootstrap": N_BOOTSTRAP,
            "add_negatives": bool(args.add_negatives), "limit": args.limit,
            "confidence": CONFIDENCE_SOURCE, "started_at": started_at,
            "elapsed_s": round(elapsed, 2), "python": platform.python_version(),
            "settings": _settings_meta(settings)}
    problems: list[str] = []
    summary = write_outputs(out, outcomes, meta, skipped=qa.skipped, warnings=qa.warnings,
                            seed=args.seed, baseline=baseline, baseline_path=args.baseline,
                            problems=problems)
    if baseline is not None:
        base_meta = baseline.get("meta")
        if isinstance(base_meta, dict) and base_meta.get("input_sha256") not in (None,
                                                                                 qa.sha256):
            notice("warning: the baseline was measured on a different input file")
        sys.stdout.write(comparison_table(summary, baseline) + "\n")
        sys.stdout.flush()
    failed = [line for line in (gate_failure(name, value, summary.get(name))
                                for name, value in gates) if line]
    # every headline figure is named, a missing one as n/a: leaving out abstention_f1 when
    # nothing could be refused would hide that nothing was
    headline = ", ".join(
        f"{k}={summary[k]:.3f}" if summary.get(k) is not None else f"{k}=n/a"
        for k in ("hit_at_1", "hit_at_3", "mrr", "abstention_f1", "false_abstention_rate",
                  "coverage"))
    counts = summary["counts"]
    notice(f"{counts['n_total']} items ({counts['n_error']} errors, {counts['n_skipped']} "
           f"skipped) -> {out}: {headline}")
    for line in failed:
        print(f"articlebot: gate failed: {line}", file=sys.stderr)
    if problems:
        # the answers are not lost: what could be written was, and this says what was not
        raise ArticlebotError(f"--out {out}: could not write {', '.join(problems)}; the "
                              "other outputs were written")
    return 1 if failed else 0


def gate_failure(name: str, target: float, value: float | None) -> str | None:
    """Why a --fail-under gate fails, or None when it passes. A metric falls short when it
    is below the target, or above it for a lower-is-better metric; a metric that could not
    be computed always fails."""
    if value is None:
        return f"{name} = n/a (nothing to compute it over)"
    if name in LOWER_IS_BETTER:
        return f"{name} = {value:.4f} > {target}" if value > target else None
    return f"{name} = {value:.4f} < {target}" if value < target else None


def parse_gates(specs: Sequence[str]) -> list[tuple[str, float]]:
    """Parse --fail-under METRIC=VALUE options."""
    gates = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or name not in HEADLINE:
            raise ConfigError(f"--fail-under {spec!r}: expected METRIC=VALUE with METRIC one "
                              f"of {', '.join(HEADLINE)}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--fail-under {spec!r}: {value!r} is not a number") from None
        if number != number:  # NaN would make every gate pass
            raise ConfigError(f"--fail-under {spec!r}: {value!r} is not a number")
        gates.append((name, number))
    return gates


def dump_json(data: Any) -> str:
    """JSON for the output files (UTF-8, stable key order as given)."""
    return json.dumps(data, ensure_ascii=False, indent=2)
