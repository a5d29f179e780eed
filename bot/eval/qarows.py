"""The rows of a Q&A file, by format: JSONL and CSV a line at a time (each line at most
MAX_LINE_BYTES), a SQuAD v2 JSON document whole, each row with the line it starts on.

Hostile input is a `BadRow` with its line, never another exception: JSON nested deeper than
the parser's recursion limit and integers too long to convert (MAX_INT_DIGITS) included.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

MAX_JSON_BYTES = 512 * 1024 * 1024  # a SQuAD document is parsed whole
MAX_LINE_BYTES = 16 * 1024 * 1024  # one JSONL row or CSV record
BOM = b"\xef\xbb\xbf"
# No field we read needs a longer integer (ids, offsets); a longer literal is kept unconverted
# so that the row, not the whole read, fails, and Python's own int-conversion limit (4300
# digits, a ValueError) is never reached.
MAX_INT_DIGITS = 100


class LongNumber:
    """An integer literal of more than MAX_INT_DIGITS digits, left unconverted."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def parse_int(text: str) -> int | LongNumber:
    digits = len(text) - text.startswith("-")
    return int(text) if digits <= MAX_INT_DIGITS else LongNumber(digits)


DECODER = json.JSONDecoder(parse_int=parse_int)
TOO_DEEP = "bad JSON: nested too deeply"


class BadRow(Exception):
    """A problem with one row; `col` is set for JSON syntax errors."""

    def __init__(self, message: str, col: int | None = None) -> None:
        super().__init__(message)
        self.col = col


def kind_of(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        LongNumber: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def read_line(fh: BinaryIO) -> tuple[bytes, bool]:
    """One line of at most MAX_LINE_BYTES; (line, too_long). A longer line is consumed
    to its end so that the next read starts on the next line."""
    raw = fh.readline(MAX_LINE_BYTES + 1)
    if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
        return raw, False
    del raw
    chunk = b"x"
    while chunk and not chunk.endswith(b"\n"):
        chunk = fh.readline(1 << 20)
    return b"x", True


def jsonl_rows(fh: BinaryIO) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or BadRow) for every non-blank line."""
    n = 0
    while True:
        raw, too_long = read_line(fh)
        if not raw:
            return
        n += 1
        if too_long:
            yield n, BadRow(f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if n == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield n, BadRow(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", col=exc.start + 1)
            continue
        text = text.rstrip("\r\n")
        start = len(text) - len(text.lstrip())
        if start == len(text):
            continue
        try:
            obj, end = DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            yield n, BadRow(f"bad JSON: {exc.msg}", col=exc.colno)
            continue
        except RecursionError:
            yield n, BadRow(TOO_DEEP)
            continue
        rest = text[end:]
        if rest.strip():
            col = end + len(rest) - len(rest.lstrip()) + 1
            yield (
                n,
                BadRow(
                    "bad JSON: more than one JSON value on the line (missing newline "
                    "between objects?)",
                    col=col,
                ),
            )
            continue
        yield n, obj


def squad_rows(data: Any, text: str) -> Iterator[tuple[int, Any]]:
    """The questions of a SQuAD v2 document, each with its paragraph's context; the line is
    where the question's id appears in the file."""
    if isinstance(data, list):  # a plain JSON list of items
        for i, row in enumerate(data):
            yield locate(text, row, f"[{i}]")
        return
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        yield 1, BadRow("expected SQuAD JSON: an object with a 'data' list")
        return
    pos = [0]
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            yield 1, BadRow(f"data[{a}]: expected an object with a 'paragraphs' list")
            continue
        for p, para in enumerate(article["paragraphs"]):
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                yield 1, BadRow(f"data[{a}].paragraphs[{p}]: expected an object with a 'qas' list")
                continue
            for q, qa in enumerate(para["qas"]):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                if not isinstance(qa, dict):
                    yield 1, BadRow(f"{where}: expected a JSON object, got {kind_of(qa)}")
                    continue
                line, row = locate(
                    text,
                    {**qa, "context": para.get("context"), "title": article.get("title")},
                    where,
                    pos,
                )
                yield line, row


def locate(text: str, row: Any, where: str, pos: list[int] | None = None) -> tuple[int, Any]:
    """The line of the row's id in the document (ids appear in order), else 1."""
    pos = pos if pos is not None else [0]
    if isinstance(row, dict) and isinstance(row.get("id"), (str, int)):
        found = text.find(json.dumps(row["id"], ensure_ascii=False), pos[0])
        if found < 0:
            found = text.find(json.dumps(row["id"]), pos[0])
        if found >= 0:
            pos[0] = found + 1
            return text.count("\n", 0, found) + 1, row
    return 1, row if isinstance(row, dict) else BadRow(
        f"{where}: expected a JSON object, got {kind_of(row)}"
    )


CSV_COLUMNS = ("id", "question", "answers", "evidence", "answerable")
CSV_OPTIONAL = ("lang", "source", "context", "category", "article")


def csv_rows(fh: BinaryIO, unknown: dict[str, tuple[int, int]]) -> Iterator[tuple[int, Any]]:
    """CSV with `|` between list items; line numbers are those of each record's start."""
    csv.field_size_limit(MAX_LINE_BYTES)
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    line = 1
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip().lower() for h in header]
        missing = [c for c in ("id", "question") if c not in header]
        if missing:
            yield (
                1,
                BadRow(
                    f"a CSV needs the columns {','.join(CSV_COLUMNS)} "
                    f"(missing: {', '.join(missing)})"
                ),
            )
            return
        for name in header:
            if name not in CSV_COLUMNS and name not in CSV_OPTIONAL:
                unknown.setdefault(name, (1, 0))
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield start, BadRow(f"{len(cells)} fields where the header has {len(header)}")
                continue
            row = dict(zip(header, cells, strict=True))
            out: dict[str, Any] = {"id": row["id"].strip(), "question": row["question"]}
            for name in ("answers", "evidence"):
                value = (row.get(name) or "").strip()
                out[name] = [v.strip() for v in value.split("|") if v.strip()]
            flag = (row.get("answerable") or "").strip().lower()
            if flag not in ("true", "false", "1", "0", "yes", "no", ""):
                yield start, BadRow(f"field 'answerable' must be true or false, not {flag!r}")
                continue
            out["answerable"] = flag in ("true", "1", "yes", "")
            for name in CSV_OPTIONAL:
                if (row.get(name) or "").strip():
                    out[name] = row[name]
            yield start, out
    except UnicodeDecodeError as exc:
        yield line, BadRow(f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x})")
    except csv.Error as exc:
        yield line, BadRow(f"bad CSV: {exc}")
