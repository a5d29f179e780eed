"""One system's figures, the statistics they are made of, and the questions they time."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.files import QUESTIONS_LIMIT, read_text_bounded


@dataclass(frozen=True)
class SystemFigures:
    """The figures of one system (articlebot or the tutorial peer)."""

    name: str
    model_load_s: float
    index_build_s: float
    reindex_unchanged_s: float | None
    cold_start_s: float
    cold_start_runs_s: tuple[float, ...]
    warm_p50_ms: float
    warm_p95_ms: float
    warm_mean_ms: float
    warm_cpu_ms: float  # the process's CPU time a question (all threads): steadier under load
    questions_timed: int
    peak_rss_mb: float
    cited_chars: float
    units: int  # sentences (articlebot) or chunks (peer) in the article's index


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def cycle(questions: Sequence[str], n: int) -> list[str]:
    return [questions[i % len(questions)] for i in range(n)]


def load_questions(path: Path) -> list[str]:
    """The questions of a JSONL Q&A file (only the `question` field is used)."""
    lines = read_text_bounded(
        path, QUESTIONS_LIMIT, ConfigError, f"bench: questions file {path}"
    ).splitlines()
    questions = []
    for line in lines:
        if line.strip():
            item = json.loads(line)
            if isinstance(item, dict) and str(item.get("question", "")).strip():
                questions.append(str(item["question"]))
    if not questions:
        raise ConfigError(f"bench: no questions in {path}")
    return questions


def bundled_questions() -> list[str]:
    """The development questions about the bundled article, shipped with the package
    (`bot/eval/data/article_dev_qa.jsonl`): the bench's default questions."""
    from importlib import resources

    with resources.as_file(resources.files("bot.eval") / "data" / "article_dev_qa.jsonl") as path:
        return load_questions(path)
