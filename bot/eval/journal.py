"""The eval journal, `items.jsonl` in --out: one JSON line an evaluated item, appended and
flushed as the item completes, so that an interrupted run can be resumed (`--resume`).

The first line is a header holding the run's fingerprint: the input file's sha256 and every
setting and option that shapes an item's answer. Each further line is one item: its place
in the run (`n`, 0-based), its id, its answer record and its scores. A line carries all an
item's outcome needs, so the outcome rebuilt from it equals the one first computed (floats
round-trip exactly through JSON) and a resumed run's figures equal an uninterrupted one's.

Reading for a resume: a last line without its newline (the process was killed while writing
it) is dropped and that item is asked again; the file is cut back to the last whole line
before anything is appended. A journal of another input file or other settings, or a
broken line before the last, is refused with a one-line ConfigError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from bot.eval.metrics import Scored
from bot.eval.outcome import Outcome
from bot.eval.qafile import QAItem
from bot.settings import Settings
from core.errors import ConfigError
from core.files import JOURNAL_LIMIT, check_regular, read_bounded

JOURNAL = "items.jsonl"
FORMAT = "articlebot-eval-journal/1"
# Settings that never change an answer: where things are kept, the server's limits, secrets.
_NOT_SHAPING = frozenset(
    {
        "store",
        "data_dir",
        "chroma_token",
        "openai_api_key",
        "auth",
        "host",
        "port",
        "concurrency_limit",
        "queue_max_size",
        "max_upload_bytes",
        "lock_timeout_s",
        "cached_articles",
        "max_article_sentences",
        "max_article_chars",
    }
)


def fingerprint(
    settings: Settings,
    *,
    version: str,
    input_sha256: str,
    limit: int | None,
    add_negatives: bool,
    seed: int,
    skip_invalid: bool,
    n_items: int,
) -> dict[str, Any]:
    """What a journal's items depend on; a resume needs all of it to be the same. Every
    setting is in it except those that cannot change an answer (a setting added later is
    in it by default)."""
    dumped = settings.model_dump(mode="json")
    shaping = {k: dumped[k] for k in sorted(dumped) if k not in _NOT_SHAPING}
    return {
        "version": version,
        "input_sha256": input_sha256,
        "limit": limit,
        "add_negatives": add_negatives,
        "seed": seed,
        "skip_invalid": skip_invalid,
        "n_items": n_items,
        "settings": shaping,
    }


def entry(n: int, outcome: Outcome) -> dict[str, Any]:
    """One journal line's content: everything the item's outcome needs besides the item."""
    s = outcome.scored
    return {
        "n": n,
        "id": outcome.item.id,
        "record": outcome.record,
        "scored": {
            "abstained": s.abstained,
            "error": s.error,
            "ranking": list(s.ranking),
            "cited": list(s.cited),
            "exact_match": s.exact_match,
            "f1": s.f1,
            "latency_ms": s.latency_ms,
            "confidence": s.confidence,
            "short_shown": s.short_shown,
            "short_scores": list(s.short_scores) if s.short_scores is not None else None,
            "short_confidence": s.short_confidence,
        },
        "gold": list(outcome.gold),
        "gold_texts": list(outcome.gold_texts),
        "error": outcome.error,
    }


def outcome_of(item: QAItem, line: Mapping[str, Any]) -> Outcome:
    """The outcome a journal line holds, for its item."""
    s = line["scored"]
    gold = tuple(str(g) for g in line["gold"])
    scored = Scored(
        answerable=item.answerable,
        abstained=bool(s["abstained"]),
        error=bool(s["error"]),
        gold=frozenset(gold),
        ranking=tuple(s["ranking"]),
        cited=tuple(s["cited"]),
        exact_match=s["exact_match"],
        f1=s["f1"],
        latency_ms=s["latency_ms"],
        confidence=s["confidence"],
        # absent in journals written before short answers were scored: none was shown
        short_shown=bool(s.get("short_shown", False)),
        short_scores=_short_scores(s.get("short_scores")),
        short_confidence=_number(s.get("short_confidence")),
    )
    return Outcome(
        item,
        dict(line["record"]),
        scored,
        gold,
        tuple(str(t) for t in line["gold_texts"]),
        line["error"],
    )


def _dump(data: Mapping[str, Any]) -> bytes:
    # backslashreplace: a lone surrogate becomes its own JSON escape (`\ud800`), which reads
    # back as the same string, instead of failing the write
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")


class Journal:
    """An open journal, appended to one item at a time."""

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self._fh = fh
        self.path = path

    @classmethod
    def start(cls, path: Path, header: Mapping[str, Any]) -> Journal:
        """A new journal in place of whatever `path` held."""
        fh = path.open("wb")
        fh.write(_dump({"format": FORMAT, "fingerprint": header}))
        fh.flush()
        return cls(fh, path)

    @classmethod
    def resume(
        cls, path: Path, header: Mapping[str, Any], items: Sequence[QAItem]
    ) -> tuple[Journal, dict[int, dict[str, Any]]]:
        """The journal at `path` opened for appending, and the items it already holds by
        their place. Raises ConfigError when it belongs to another run."""
        good, done = read(path, header, items)
        fh = path.open("r+b")
        fh.truncate(good)  # a torn last line goes; its item is asked again
        fh.seek(good)
        return cls(fh, path), done

    def append(self, line: Mapping[str, Any]) -> None:
        """Write one item's line and flush it to the OS (a killed process loses nothing
        written before)."""
        self._fh.write(_dump(line))
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def has_header(path: Path) -> bool:
    """Whether `path` holds at least a whole first line: a journal to resume (or to refuse).
    A file cut short before its header's newline holds nothing to resume."""
    if not os.path.lexists(path):
        return False
    check_regular(path, ConfigError, f"--resume: {path}")
    try:
        with path.open("rb") as fh:
            return b"\n" in fh.read(1 << 20)
    except OSError as exc:
        raise ConfigError(f"--resume: {path}: cannot read ({exc.strerror or exc})") from None


def read(
    path: Path, header: Mapping[str, Any], items: Sequence[QAItem]
) -> tuple[int, dict[int, dict[str, Any]]]:
    """(bytes of whole, valid lines, the items' lines by place) of a journal written with
    `header`; ConfigError when it was written for another input file or other settings, or
    is broken before its last line."""
    where = f"--resume: {path}"
    data = read_bounded(path, JOURNAL_LIMIT, ConfigError, where)
    lines = data.split(b"\n")
    # the piece after the last newline is empty, or a line torn by a kill: dropped
    whole = lines[:-1]
    if not whole:
        raise ConfigError(f"{where}: holds no journal header; run without --resume")
    first = _parse(whole[0])
    if (
        not isinstance(first, dict)
        or first.get("format") != FORMAT
        or not isinstance(first.get("fingerprint"), dict)
    ):
        raise ConfigError(f"{where}: not an articlebot eval journal")
    _check_same(where, first["fingerprint"], header)
    done: dict[int, dict[str, Any]] = {}
    good = len(whole[0]) + 1
    for number, raw in enumerate(whole[1:], start=2):
        line = _parse(raw)
        if not isinstance(line, dict) or not _well_formed(line, len(items)):
            raise ConfigError(
                f"{where}:{number}: not a journal line; run without --resume to start afresh"
            )
        n = line["n"]
        if items[n].id != line["id"]:
            raise ConfigError(
                f"{where}:{number}: item {n + 1} is {line['id']!r} there but "
                f"{items[n].id!r} in the input; run without --resume"
            )
        done.setdefault(n, line)
        good += len(raw) + 1
    return good, done


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def _well_formed(line: Mapping[str, Any], n_items: int) -> bool:
    n, scored = line.get("n"), line.get("scored")
    return (
        isinstance(n, int)
        and not isinstance(n, bool)
        and 0 <= n < n_items
        and isinstance(line.get("id"), str)
        and isinstance(line.get("record"), dict)
        and isinstance(scored, dict)
        and {
            "abstained",
            "error",
            "ranking",
            "cited",
            "exact_match",
            "f1",
            "latency_ms",
            "confidence",
        }
        <= set(scored)
        and isinstance(line.get("gold"), list)
        and isinstance(line.get("gold_texts"), list)
    )


def _check_same(where: str, then: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """ConfigError naming the first difference between two fingerprints."""
    if then.get("input_sha256") != now.get("input_sha256"):
        raise ConfigError(
            f"{where}: was written for another input file (sha256 "
            f"{str(then.get('input_sha256'))[:12]}…, this one "
            f"{str(now.get('input_sha256'))[:12]}…); run without --resume "
            "to start afresh"
        )
    flat_then = {
        **{k: v for k, v in then.items() if k != "settings"},
        **(then.get("settings") or {}),
    }
    flat_now = {**{k: v for k, v in now.items() if k != "settings"}, **(now.get("settings") or {})}
    for key in sorted(set(flat_then) | set(flat_now)):
        if flat_then.get(key) != flat_now.get(key):
            raise ConfigError(
                f"{where}: was written with other settings ({key}: "
                f"{flat_then.get(key)!r} then, {flat_now.get(key)!r} now); "
                "run without --resume to start afresh"
            )


def _short_scores(value: Any) -> tuple[float, float, float] | None:
    """A journal's (exact match, F1, right) of a shown short answer, or None."""
    if isinstance(value, list) and len(value) == 3:
        return float(value[0]), float(value[1]), float(value[2])
    return None


def _number(value: Any) -> float | None:
    """A journal's optional number (None when absent or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
