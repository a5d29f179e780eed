"""Reading Q&A files for eval: JSONL (against one article, or with per-item `context`),
SQuAD v2 JSON, and CSV. Strict by default: the first problem stops the read with
`FILE:LINE: what is wrong`; with `skip_invalid` problems are collected and the item skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from index.article import inline_id
from index.errors import QAFileError

MAX_QA_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Span:
    """A gold answer span in a context."""

    text: str
    start: int


@dataclass(frozen=True)
class QAItem:
    """One question to evaluate, with what counts as a correct answer."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    answerable: bool = True
    lang: str | None = None
    source: str | None = None
    context: str | None = None
    spans: tuple[Span, ...] = ()
    line: int = 0

    @property
    def context_id(self) -> str | None:
        """The inline article id of the item's context, if it carries one."""
        return inline_id(self.context) if self.context is not None else None


@dataclass
class QAFile:
    """The items of a file, the problems skipped, and the file's hash."""

    items: list[QAItem]
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""


def _str_list(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: field {name!r} must be a list of strings")
    return tuple(value)


_KNOWN = {"id", "question", "answers", "evidence", "answerable", "lang", "source", "context",
          "is_impossible", "title", "plausible_answers"}


def _item(row: Any, where: str, line: int) -> QAItem:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    item_id = row.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id.strip():
        raise ValueError(f"{where}: field 'id' is missing or not a non-empty string")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: field 'question' is missing or empty")
    context = row.get("context")
    if context is not None and (not isinstance(context, str) or not context.strip()):
        raise ValueError(f"{where}: field 'context' must be a non-empty string")
    answerable = row.get("answerable", True)
    if row.get("is_impossible") is True:
        answerable = False
    if not isinstance(answerable, bool):
        raise ValueError(f"{where}: field 'answerable' must be true or false")
    lang = row.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ValueError(f"{where}: field 'lang' must be a string")
    source = row.get("source")
    answers_raw = row.get("answers")
    spans: list[Span] = []
    answers: tuple[str, ...]
    if isinstance(answers_raw, list) and answers_raw and all(isinstance(a, dict)
                                                             for a in answers_raw):
        texts = []
        for a in answers_raw:
            text, start = a.get("text"), a.get("answer_start")
            if not isinstance(text, str) or not isinstance(start, int) or isinstance(start,
                                                                                    bool):
                raise ValueError(f"{where}: each answer needs 'text' (string) and "
                                 "'answer_start' (integer)")
            if context is not None and context[start:start + len(text)] != text:
                raise ValueError(f"{where}: answer {text!r} is not at offset {start} "
                                 "of the context")
            spans.append(Span(text=text, start=start))
            texts.append(text)
        answers = tuple(texts)
    else:
        answers = _str_list(answers_raw, where, "answers")
    evidence = _str_list(row.get("evidence"), where, "evidence")
    return QAItem(id=item_id.strip(), question=question, answers=answers, evidence=evidence,
                  answerable=answerable, lang=lang, source=str(source) if source else None,
                  context=context, spans=tuple(spans), line=line)


def _jsonl_rows(text: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            obj, end = decoder.raw_decode(line)
        except json.JSONDecodeError as exc:
            yield n, ValueError(f"bad JSON at column {exc.colno}: {exc.msg}")
            continue
        if line[end:].strip():
            yield n, ValueError(f"more than one JSON value on the line (column {end + 1})")
            continue
        yield n, obj


def _squad_rows(data: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    for article in data.get("data", []):
        for para in article.get("paragraphs", []):
            context = para.get("context")
            for qa in para.get("qas", []):
                yield 0, {**qa, "context": context, "title": article.get("title")}


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"id", "question"} <= set(reader.fieldnames):
        yield 1, ValueError("a CSV needs the columns id,question[,answers,evidence,answerable]")
        return
    for row in reader:
        out: dict[str, Any] = {"id": row.get("id"), "question": row.get("question")}
        for name in ("answers", "evidence"):
            value = (row.get(name) or "").strip()
            out[name] = [v.strip() for v in value.split("|") if v.strip()] if value else []
        flag = (row.get("answerable") or "true").strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no", ""):
            yield reader.line_num, ValueError(f"answerable must be true or false, not {flag!r}")
            continue
        out["answerable"] = flag in ("true", "1", "yes", "")
        for name in ("lang", "source", "context"):
            if row.get(name):
                out[name] = row[name]
        yield reader.line_num, out


def read_qa_file(path: Path, skip_invalid: bool = False) -> QAFile:
    """Read and check a Q&A file; raises QAFileError on the first problem unless skipping."""
    try:
        size = path.stat().st_size
        if size > MAX_QA_BYTES:
            raise QAFileError(f"{path}: larger than {MAX_QA_BYTES} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise QAFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise QAFileError(f"{path}: is a directory") from None
    except OSError as exc:
        raise QAFileError(f"{path}: cannot read ({exc.strerror})") from None
    sha = hashlib.sha256(data).hexdigest()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise QAFileError(f"{path}:{line}: not valid UTF-8 (byte {exc.start})") from None
    rows: Iterator[tuple[int, Any]]
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(text)
    elif path.suffix.lower() == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QAFileError(f"{path}:{exc.lineno}: bad JSON: {exc.msg}") from None
        if not isinstance(whole, dict) or "data" not in whole:
            raise QAFileError(f"{path}:1: expected SQuAD JSON with a 'data' list")
        rows = _squad_rows(whole)
    else:
        rows = _jsonl_rows(text)
    result = QAFile(items=[], sha256=sha)
    seen: dict[str, int] = {}
    for n, row in rows:
        where = f"{path}:{n}"
        try:
            if isinstance(row, ValueError):
                raise ValueError(f"{where}: {row}")
            item = _item(row, where, n)
            if item.id in seen:
                raise ValueError(f"{where}: duplicate id {item.id!r} (first at line "
                                 f"{seen[item.id]})")
            unknown = set(row) - _KNOWN
            if unknown:
                result.warnings.append(f"{where}: unknown fields ignored: "
                                       f"{', '.join(sorted(unknown))}")
        except ValueError as exc:
            if not skip_invalid:
                raise QAFileError(str(exc)) from None
            result.skipped.append(str(exc))
            continue
        seen[item.id] = n
        result.items.append(item)
    if not result.items and not result.skipped:
        raise QAFileError(f"{path}:1: no items")
    return result


def add_negatives(items: list[QAItem], seed: int) -> list[QAItem]:
    """For each item with a context, one more item asking its question against a different
    context (different first line), id `<id>#neg`, unanswerable."""
    contexts = sorted({i.context for i in items if i.context is not None})
    rng = random.Random(seed)
    out = list(items)
    for item in items:
        if item.context is None:
            continue
        first = item.context.split("\n", 1)[0]
        others = [c for c in contexts if c.split("\n", 1)[0] != first]
        if not others:
            continue
        out.append(replace(item, id=f"{item.id}#neg", context=rng.choice(others),
                           answerable=False, answers=(), evidence=(), spans=()))
    return out
