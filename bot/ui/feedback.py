"""Ratings from the web chat: saved as JSONL in the data dir (on this machine only), and
exported as a Q&A file that `articlebot eval` reads.

A liked answer makes its cited sentences the evidence; a liked abstention makes the question
unanswerable; a disliked answer counts only when the user said which sentence was right.

Each rating names the message it rates (`message`), and a second rating of one message
replaces the first: ratings are appended (the file is never rewritten; every earlier line
stays as it was, byte for byte), and reading keeps the last rating of each message. When
the rating replaced is the file's last line (a like changed to a dislike at once), that line
is cut off before the new one is appended, so the log does not grow. A rating is one line of
at most `MAX_LINE_BYTES` (an answer record's ranking is left out when the line would be
longer) and the file at most `MAX_FILE_BYTES`: beyond that a rating is refused with a
message, until the ratings are exported and the file moved away. Reading is strict: a line that is
not valid UTF-8, not JSON or not a rating stops the export with FILE:LINE, so nothing is
dropped without the user seeing it (such a line is a hand edit, and the user can repair it).
The export is written whole or not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout

from bot.writable import writable_folder
from core.errors import ArticlebotError, ConfigError
from core.files import LOG_LIMIT, check_regular, read_bounded

Rating = Literal["up", "down"]
_WRITE_LOCK = threading.Lock()  # one append at a time within the web process
LOCK_TIMEOUT_S = 10.0  # and across processes, through a lock file beside the log
MAX_LINE_BYTES = 256_000  # one rating
MAX_FILE_BYTES = 20_000_000  # the whole log


@dataclass(frozen=True)
class CitedSentence:
    """A sentence an answer quoted, as the feedback log keeps it."""

    n: int
    sentence_id: str
    text: str
    support: bool = True


@dataclass(frozen=True)
class FeedbackRecord:
    """One like or dislike on one answer.

    `answer` is the answer's text and `record` the answer record (`Answer.to_record()`) as
    the chat gave it, when the server still knew it; `message` names the rated message, so
    that a later rating of it replaces this one."""

    article: str
    question: str
    answer: str
    rating: Rating
    citations: tuple[CitedSentence, ...] = ()
    right_sentence: str | None = None
    language: str | None = None
    record: dict[str, Any] | None = None
    message: str | None = None
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


def _rates(raw: bytes, message: str) -> bool:
    """True when a line of the log is a rating of `message`."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("message") == message


def _line(record: FeedbackRecord) -> bytes:
    """The record as one bounded line; ArticlebotError when it cannot be made short enough."""
    line = (record.to_json() + "\n").encode("utf-8")
    if len(line) > MAX_LINE_BYTES and record.record is not None:
        # the ranking (every sentence considered, with its text) is what grows with the
        # article; the citations and the answer are what a rating is about
        smaller = {k: v for k, v in record.record.items() if k != "ranking"}
        line = (dataclasses.replace(record, record=smaller).to_json() + "\n").encode("utf-8")
    if len(line) > MAX_LINE_BYTES:
        raise ArticlebotError(f"the rating is larger than {MAX_LINE_BYTES} bytes; not saved")
    return line


def save(path: Path, record: FeedbackRecord) -> None:
    """Append a rating to the feedback file (created with its directory when missing); it
    replaces an earlier rating of the same message when read (and at once, when that rating
    is the last line).

    Under a thread lock and an OS file lock, so two writers never interleave their lines.
    Raises ArticlebotError when the rating is too large, the log is full, or it cannot be
    written.
    """
    line = _line(record)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            check_regular(path, ArticlebotError)  # a FIFO or device would hang the append
        with _WRITE_LOCK, FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S), path.open("ab+") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - MAX_LINE_BYTES - 1))
            tail = f.read()
            if tail and not tail.endswith(b"\n"):  # a hand edit without a final newline
                f.write(b"\n")
                size += 1
                tail += b"\n"
            start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
            last = tail[start:]
            if record.message is not None and last and _rates(last, record.message):
                size -= len(last)
                f.truncate(size)
            if size + len(line) > MAX_FILE_BYTES:
                raise ArticlebotError(
                    f"{path}: the feedback log is full ({MAX_FILE_BYTES} "
                    "bytes); export the ratings and move the file away"
                )
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except Timeout:
        raise ArticlebotError(f"{path}: another process holds the feedback lock") from None
    except OSError as exc:
        raise ArticlebotError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _citation(data: Any) -> CitedSentence:
    if not isinstance(data, dict):
        raise ValueError("each citation must be a JSON object")
    n, sentence_id, text = data.get("n"), data.get("sentence_id"), data.get("text")
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError("each citation needs 'n' (an integer)")
    if not isinstance(sentence_id, str) or not isinstance(text, str):
        raise ValueError("each citation needs 'sentence_id' and 'text' (strings)")
    return CitedSentence(
        n=n, sentence_id=sentence_id, text=text, support=bool(data.get("support", True))
    )


def _record(data: Any) -> FeedbackRecord:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    rating = data.get("rating")
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    for name in ("article", "question", "answer"):
        if not isinstance(data.get(name), str):
            raise ValueError(f"field {name!r} must be a string")
    cited = data.get("citations") or []
    if not isinstance(cited, list):
        raise ValueError("field 'citations' must be a list")
    citations = tuple(_citation(c) for c in cited)
    right = data.get("right_sentence")
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError("field 'language' must be a string")
    answer_record, message = data.get("record"), data.get("message")
    if answer_record is not None and not isinstance(answer_record, dict):
        raise ValueError("field 'record' must be a JSON object")
    if message is not None and not isinstance(message, str):
        raise ValueError("field 'message' must be a string")
    return FeedbackRecord(
        article=data["article"],
        question=data["question"],
        answer=data["answer"],
        rating=rating,
        citations=citations,
        right_sentence=right if isinstance(right, str) and right.strip() else None,
        language=language or None,
        record=answer_record,
        message=message,
        time=str(data.get("time", "")),
    )


def _parse_line(raw: bytes) -> FeedbackRecord:
    """One rating from one line of the log; ValueError says what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad JSON at column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("bad JSON: nested too deeply") from None
    except ValueError as exc:  # an integer beyond Python's int-conversion limit
        raise ValueError(f"bad JSON: {str(exc).split(':')[0]}") from None
    try:
        # JSON's \ud800 escapes decode to lone surrogates, which cannot be written out
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid text (a lone surrogate escape)") from None
    return _record(data)


def load(path: Path) -> list[FeedbackRecord]:
    """Every rating in the feedback file, oldest first; of several ratings of one message,
    the last, in its place.

    Raises ArticlebotError naming FILE:LINE for a line that is not a rating.
    """
    records: list[FeedbackRecord] = []
    for line_no, raw in enumerate(_read_log(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            records.append(_parse_line(raw))
        except ValueError as exc:
            raise ArticlebotError(f"{path}:{line_no}: {exc}") from None
    last = {r.message: i for i, r in enumerate(records) if r.message is not None}
    return [r for i, r in enumerate(records) if r.message is None or last[r.message] == i]


def _read_log(path: Path) -> bytes:
    """The feedback log's bytes (none when there is no log yet), at most `LOG_LIMIT`."""
    if not os.path.lexists(path):
        return b""
    return read_bounded(path, LOG_LIMIT, ArticlebotError)


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
        # an empty evidence string would make the whole file unreadable for eval
        item.update(
            evidence=[c.text for c in record.citations if c.support and c.text.strip()],
            answerable=True,
        )
    if record.language:
        item["lang"] = record.language
    item["source"] = "feedback"
    item["context"] = context
    return item


def check_export_path(out: Path) -> None:
    """Raise ConfigError unless `out` can be written as the export: not a directory nor
    another non-file (replacing a device such as /dev/null would swap the device itself for
    a file), in a directory that exists or can be made and that takes new files. Leaves
    nothing behind (directories made for the check are removed again)."""
    try:
        if out.is_dir():
            raise ConfigError(f"--out {out}: is a directory")
        if out.exists() and not out.is_file():
            raise ConfigError(f"--out {out}: not a regular file")
    except OSError as exc:  # a name too long, a parent that is a file, ...
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    with writable_folder(out.parent, out):
        pass


def _write_atomic(out: Path, text: str) -> None:
    """Write `out` whole or not at all: a temporary file beside it, renamed over it."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def export(
    records: Iterable[FeedbackRecord], article_text: Callable[[str], str | None], out: Path
) -> tuple[int, int]:
    """Write the ratings as a Q&A JSONL file; returns (items written, ratings skipped).

    Each item carries its article's text as `context`, so eval answers it against the
    article it was asked about. A later rating of the same question replaces an earlier one.
    `out` is checked first (`check_export_path`) and written atomically; ConfigError says
    why it cannot be. With no item to write, nothing is written: an existing file stays as
    it was.
    """
    check_export_path(out)
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
    if items:
        _write_atomic(out, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))
    return len(items), skipped
