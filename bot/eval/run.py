"""`articlebot eval`: answer every item of a Q&A file and score the answers.

Items with their own `context` are answered against that context only (each distinct context
is indexed as its own article, in a temporary store unless --store is given); items naming an
`article` file against that file (indexed the same way); items naming an indexed article by
id against it; the others against --article (default: the bundled article). An item's
`history` (earlier turns) goes through the follow-up rule the caller passes, the one the
chat and the HTTP API use. Everything that can be checked before the
run (the gates, the baseline, every output file, the Q&A file) is checked first, so a bad
option never costs a full run; a write that still fails at the end leaves the other outputs
written and says which one failed.

Each item's outcome is appended to the journal (`items.jsonl`, bot/eval/journal.py) as it
completes; `--resume` answers only the items it does not hold yet, and the figures are
computed from the journal's lines either way, so a resumed run's equal an uninterrupted
one's. `--jobs N` answers with N worker processes (bot/eval/answering.py); the outputs keep
the file's order.
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
from typing import Any

from bot import __version__
from bot.answer_records import ALL_ARTICLES
from bot.eval.answering import (
    FollowUp,
    Line,
    answer_here,
    answer_in_workers,
    index_collection,
)
from bot.eval.journal import JOURNAL, Journal, fingerprint, has_header, outcome_of
from bot.eval.metrics import (
    HEADLINE,
    LOWER_IS_BETTER,
    N_BOOTSTRAP,
)
from bot.eval.outcome import CONFIDENCE_SOURCE, Outcome
from bot.eval.qafile import QAItem, add_negatives, is_article_file, read_qa_file
from bot.settings import Settings
from bot.writable import writable_folder
from core.errors import ArticlebotError, ConfigError
from core.files import BASELINE_LIMIT, read_text_bounded

Notice = Callable[[str], None]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@contextlib.contextmanager
def _eval_settings(
    settings: Settings, items: Sequence[QAItem]
) -> Iterator[tuple[Settings, Path | None]]:
    """Contexts and article files go into a temporary store unless a store was chosen
    explicitly or an item names an indexed article by id (it is in the chosen store): (the
    settings to run with, the temporary folder or None)."""
    own = any(
        i.context is not None or (i.article is not None and is_article_file(i.article))
        for i in items
    )
    by_id = any(i.article is not None and not is_article_file(i.article) for i in items)
    if own and not by_id and "store" not in settings.model_fields_set:
        with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp:
            yield settings.model_copy(update={"store": Path(tmp)}), Path(tmp)
    else:
        yield settings, None


class Progress:
    """Progress on stderr: a bar at a terminal (from MIN_BAR items on), else a line at most
    every LINE_EVERY_S seconds; nothing when disabled (-q)."""

    MIN_BAR = 20
    LINE_EVERY_S = 30.0

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.total, self.done = total, done
        self._enabled = enabled
        self._tty = enabled and sys.stderr.isatty()
        self._bar = tqdm(
            total=total,
            initial=done,
            desc="eval",
            unit="q",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=not self._tty or total < self.MIN_BAR,
        )
        self._started = self._last = time.monotonic()
        self._first = done

    def update(self, n: int) -> None:
        """`n` more items done."""
        self.done += n
        self._bar.update(n)
        now = time.monotonic()
        if self._enabled and not self._tty and now - self._last >= self.LINE_EVERY_S:
            self._last = now
            rate = (self.done - self._first) / max(now - self._started, 1e-9)
            print(
                f"eval: {self.done}/{self.total} items ({100 * self.done // self.total}%),"
                f" {rate:.1f} items/s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        """The bar's last line."""
        self._bar.close()


def check_outputs(out: Path) -> None:
    """Check before the run that every output file can be written in `out`: it is (or can
    be made as) a directory we can create files in, and none of the files eval writes
    there (the journal, items.jsonl, included), nor their temporary siblings, is a
    directory or another non-file. Raises
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
        # the journal is appended to in place; every other file is replaced through its
        # temporary sibling
        candidates = [(name, (out / name, out / (name + TMP_SUFFIX))) for name in OUTPUT_FILES]
        for name, paths in [*candidates, (JOURNAL, (out / JOURNAL,))]:
            for path in paths:
                if path.is_dir():
                    raise ConfigError(
                        f"--out {out}: {path.name} is a directory, so the "
                        f"output file {name} cannot be written"
                    )
                if path.exists() and not path.is_file():
                    # writing to a FIFO would block, to a device would save nothing
                    raise ConfigError(f"--out {out}: {path.name} is not a regular file")


def _clear_earlier_results(out: Path, notice: Notice) -> None:
    """A new run's journal has replaced an earlier run's: the earlier results go too, so
    the folder never holds one run's summary beside another run's items (an interrupted run
    leaves its journal alone, to resume)."""
    from bot.eval.report import OUTPUT_FILES

    stale = [out / name for name in OUTPUT_FILES if (out / name).is_file()]
    for path in stale:
        path.unlink()
    if stale:
        notice(f"--out {out}: the earlier run's results are replaced by this run's")


MAX_JOBS = 32  # worker processes for eval; each loads the models (~200 MB)


def load_baseline(path: str) -> dict[str, Any]:
    """A previous run's summary.json (checked to hold the headline metrics)."""
    text = read_text_bounded(Path(path), BASELINE_LIMIT, ConfigError, f"--baseline {path}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ConfigError(f"--baseline {path}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--baseline {path}:{exc.lineno}:{exc.colno}: bad JSON: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or not any(k in data for k in HEADLINE):
        raise ConfigError(f"--baseline {path}: not an articlebot summary.json")
    return data


def _settings_meta(settings: Settings) -> dict[str, Any]:
    """The settings that shape results (no secrets)."""
    dumped = settings.model_dump(mode="json", exclude={"chroma_token", "openai_api_key", "auth"})
    keep = (
        "embedder",
        "ranking_size",
        "max_citations",
        "max_question_chars",
        "llm",
        "llm_base_url",
        "llm_model",
        "chroma_url",
        "article",
    )
    return {k: dumped.get(k) for k in keep}


def run_eval(
    args: argparse.Namespace, settings: Settings, notice: Notice, follow_up: FollowUp | None = None
) -> int:
    """Run `articlebot eval`; returns the exit code. `follow_up` turns an item's history
    and question into the retrieval query (without it, items are retrieved by their
    question alone)."""
    gates = parse_gates(args.fail_under)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if not 1 <= args.jobs <= MAX_JOBS:
        raise ConfigError(f"--jobs must be from 1 to {MAX_JOBS}, not {args.jobs}")
    baseline = load_baseline(args.baseline) if args.baseline else None
    out = Path(args.out)
    check_outputs(out)
    qa = read_qa_file(Path(args.file), skip_invalid=args.skip_invalid)
    if importlib.util.find_spec("matplotlib") is None:
        notice("warning: no figures: matplotlib is not installed (pip install 'articlebot[eval]')")
    for warning in qa.warnings:
        notice(f"warning: {warning}")
    for problem in qa.skipped[:20]:
        notice(f"skipped: {problem}")
    if len(qa.skipped) > 20:
        notice(f"skipped: ... {len(qa.skipped) - 20} more (see report.md)")
    items = qa.items[: args.limit] if args.limit is not None else qa.items
    if args.add_negatives:
        if not any(i.context is not None for i in items):
            notice("warning: --add-negatives does nothing here: no item carries a context")
        items = add_negatives(items, args.seed)
    from bot.eval.report import comparison_table, write_outputs
    from bot.ranking.model import load_model
    from index.embedder import normalise_spec

    started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    started = time.perf_counter()
    outcomes = _answer_all(args, settings, items, qa.sha256, out / JOURNAL, notice, follow_up)
    elapsed = time.perf_counter() - started
    ranker = str(load_model(settings.ranker_file).meta.get("source", "trained"))
    commit = _git("rev-parse", "HEAD") or None
    dirty = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    meta = {
        "version": __version__,
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "embedder": normalise_spec(settings.embedder),
        "ranker": ranker,
        "input": str(args.file),
        "input_sha256": qa.sha256,
        "input_format": qa.format,
        "seed": args.seed,
        "n_bootstrap": N_BOOTSTRAP,
        "add_negatives": bool(args.add_negatives),
        "limit": args.limit,
        "confidence": CONFIDENCE_SOURCE,
        "started_at": started_at,
        "elapsed_s": round(elapsed, 2),
        "python": platform.python_version(),
        "settings": _settings_meta(settings),
    }
    problems: list[str] = []
    summary = write_outputs(
        out,
        outcomes,
        meta,
        skipped=qa.skipped,
        warnings=qa.warnings,
        seed=args.seed,
        baseline=baseline,
        baseline_path=args.baseline,
        problems=problems,
    )
    if baseline is not None:
        base_meta = baseline.get("meta")
        if isinstance(base_meta, dict) and base_meta.get("input_sha256") not in (None, qa.sha256):
            notice("warning: the baseline was measured on a different input file")
        sys.stdout.write(comparison_table(summary, baseline) + "\n")
        sys.stdout.flush()
    failed = [
        line
        for line in (gate_failure(name, value, summary.get(name)) for name, value in gates)
        if line
    ]
    # every headline figure is named, a missing one as n/a: leaving out abstention_f1 when
    # nothing could be refused would hide that nothing was
    headline = ", ".join(
        f"{k}={summary[k]:.3f}" if summary.get(k) is not None else f"{k}=n/a"
        for k in (
            "hit_at_1",
            "hit_at_3",
            "mrr",
            "abstention_f1",
            "false_abstention_rate",
            "coverage",
        )
    )
    counts = summary["counts"]
    notice(
        f"{counts['n_total']} items ({counts['n_error']} errors, {counts['n_skipped']} "
        f"skipped) -> {out}: {headline}"
    )
    for line in failed:
        print(f"articlebot: gate failed: {line}", file=sys.stderr)
    if problems:
        # the answers are not lost: what could be written was, and this says what was not
        raise ArticlebotError(
            f"--out {out}: could not write {', '.join(problems)}; the other outputs were written"
        )
    return 1 if failed else 0


def _answer_all(
    args: argparse.Namespace,
    settings: Settings,
    items: Sequence[QAItem],
    input_sha256: str,
    path: Path,
    notice: Notice,
    follow_up: FollowUp | None = None,
) -> list[Outcome]:
    """Every item's outcome, in file order: those the journal at `path` already holds
    (with --resume), the others answered now (--jobs workers, or in this process), each
    journalled as it completes."""
    jobs = args.jobs
    header = fingerprint(
        settings,
        version=__version__,
        input_sha256=input_sha256,
        limit=args.limit,
        add_negatives=bool(args.add_negatives),
        seed=args.seed,
        skip_invalid=bool(args.skip_invalid),
        n_items=len(items),
    )
    lines: dict[int, dict[str, Any]] = {}
    if args.resume and has_header(path):
        journal, lines = Journal.resume(path, header, items)
        notice(f"resuming: {len(lines)} of {len(items)} items already in {path}")
    else:
        if args.resume:
            notice(f"nothing to resume in {path}: starting from the first item")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            journal = Journal.start(path, header)
            _clear_earlier_results(path.parent, notice)
        except OSError as exc:
            raise ConfigError(
                f"--out {path.parent}: cannot write {path.name} ({exc.strerror or exc})"
            ) from None
    todo = [(n, item) for n, item in enumerate(items) if n not in lines]
    bar = Progress(len(items), len(lines), not getattr(args, "quiet", False))
    try:
        if todo:
            with _eval_settings(settings, items) as (run_settings, tmp):
                if settings.article == ALL_ARTICLES:
                    # one store holds every context; the workers only read it
                    index_collection(items, run_settings, notice)
                    tmp = None
                answered: Iterator[Line]
                if jobs == 1:
                    answered = answer_here(todo, run_settings, notice, follow_up)
                else:
                    answered = answer_in_workers(
                        todo,
                        run_settings,
                        min(jobs, len(todo)),
                        tmp,
                        bool(getattr(args, "quiet", False)),
                        follow_up,
                    )
                for n, line in answered:
                    journal.append(line)
                    lines[n] = line
                    bar.update(1)
    finally:
        bar.close()
        journal.close()
    return [outcome_of(item, lines[n]) for n, item in enumerate(items)]


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
            raise ConfigError(
                f"--fail-under {spec!r}: expected METRIC=VALUE with METRIC one "
                f"of {', '.join(HEADLINE)}"
            )
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--fail-under {spec!r}: {value!r} is not a number") from None
        if number != number:  # NaN would make every gate pass
            raise ConfigError(f"--fail-under {spec!r}: {value!r} is not a number")
        gates.append((name, number))
    return gates
