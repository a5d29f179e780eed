"""Ratings from the web chat: saved as JSONL in the data dir (on this machine only), and
exported as a Q&A file that `articlebot eval` reads.

A liked answer makes its cited sentences the evidence; a liked abstention makes the question
unanswerable; a disliked answer counts only when the user said which sentence was right.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from index.errors import ArticlebotError

Rating = Literal["up", "down"]
_WRITE_LOCK = threading.Lock()  # one append at a time within the web process


@dataclass(frozen=True)
class CitedSentence:
    """A sentence an answer quoted, as the feedback log keeps it."""

    n: int
    sentence_id: str
    text: str
    support: bool = True


@dataclass(frozen=True)
class FeedbackRecord:
    """One like or dislike on one answer."""

    article: str
    question: str
    answer: str
    rating: Rating
    citations: tuple[CitedSentence, ...] = ()
    right_sentence: str | None = None
    language: str | None = None
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def abstained(self) -> bool:
        """True when the answer had no supporting citation (it said the article is silent)."""
        return not any(c.support for c in self.citations)

    def to_json(self) -> str:
        """The record as one JSON line."""
        data = asdict(self)
        data["abstained"] = self.abstained
        return json.dumps(data, ensure_ascii=False)


def save(path: Path, record: FeedbackRecord) -> None:
    """Append a rating to the feedback file (created with its directory when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = record.to_json() + "\n"
    with _WRITE_LOCK, path.open("a", encoding="utf-8") as f:
        f.write(line)


def _record(data: Any) -> FeedbackRecord:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    rating = data.get("rating")
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    for name in ("article", "question", "answer"):
        if not isinstance(data.get(name), str):
            raise ValueError(f"field {name!r} must be a string")
    citations = tuple(
        CitedSentence(n=int(c["n"]), sentence_id=str(c["sentence_id"]), text=str(c["text"]),
                      support=bool(c.get("support", True)))
        for c in data.get("citations") or [])
    right = data.get("right_sentence")
    return FeedbackRecord(article=data["article"], question=data["question"],
                          answer=data["answer"], rating=rating, citations=citations,
                          right_sentence=right if isinstance(right, str) and right.strip()
                          else None,
                          language=data.get("language"), time=str(data.get("time", "")))


def load(path: Path) -> list[FeedbackRecord]:
    """Every rating in the feedback file, oldest first.

    Raises ArticlebotError naming FILE:LINE for a line that is not a rating.
    """
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(_record(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ArticlebotError(f"{path}:{line_no}: {exc}") from None
    return records


def qa_item(record: FeedbackRecord, context: str) -> dict[str, Any] | None:
    """The Q&A item a rating stands for, or None when it says nothing about the gold."""
    key = hashlib.sha1(f"{record.article}\n{record.question}".encode()).hexdigest()[:10]
    item: dict[str, Any] = {"id": f"fb-{key}", "question": record.question}
    if record.rating == "down":
        if record.right_sentence is None:
            return None
        item.update(evidence=[record.right_sentence], answerable=True)
    elif record.abstained:
        item.update(evidence=[], answerable=False)
    else:
        item.update(evidence=[c.text for c in record.citations if c.support], answerable=True)
    if record.language:
        item["lang"] = record.language
    item["source"] = "feedback"
    item["context"] = context
    return item


def export(records: Iterable[FeedbackRecord], article_text: Callable[[str], str | None],
           out: Path) -> tuple[int, int]:
    """Write the ratings as a Q&A JSONL file; returns (items written, ratings skipped).

    Each item carries its article's text as `context`, so eval answers it against the
    article it was asked about. A later rating of the same question replaces an earlier one.
    """
    latest: dict[tuple[str, str], FeedbackRecord] = {}
    for record in records:
        latest[(record.article, record.question)] = record
    items, skipped = [], 0
    for record in latest.values():
        context = article_text(record.article)
        item = qa_item(record, context) if context is not None else None
        if item is None:
            skipped += 1
        else:
            items.append(item)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    return len(items), skipped
