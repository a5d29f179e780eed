"""Reading Q&A files for eval: JSONL (against one article, or with per-item `context`),
SQuAD v2 JSON, and CSV.

Strict by default: the first problem stops the read with `FILE:LINE: what is wrong`
(`FILE:LINE:COL:` for bad JSON); with `skip_invalid` problems are collected and the row
skipped. JSONL and CSV are read a line at a time, so memory follows the items kept, not the
file's size; a SQuAD JSON document is parsed whole and is capped at MAX_JSON_BYTES.

Hostile input is a QAFileError like any other problem, never another exception: JSON nested
deeper than the parser's recursion limit, integers too long to convert (MAX_INT_DIGITS), and
strings that are not valid text (lone surrogates written as `\\ud800` escapes, which would
only fail later, when an answer record is written) are all reported with their line.
"""

from __future__ import annotations

import json
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.eval.qarows import (
    BOM,
    DECODER,
    MAX_INT_DIGITS,
    MAX_JSON_BYTES,
    TOO_DEEP,
    BadRow,
    LongNumber,
    csv_rows,
    jsonl_rows,
    kind_of,
    squad_rows,
)
from core.errors import QAFileError
from core.files import read_bounded, sha256_file
from core.text import clean_text
from index.article import MAX_ARTICLE_BYTES


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
    category: str | None = None
    # the article to answer from: a file (a saved page or a PDF too; a relative path is made
    # absolute when the file is found), a link, or an indexed article's id; None for the
    # context, else --article
    article: str | None = None
    # earlier turns of the conversation, oldest first: (role, content), role "user" or
    # "assistant", as the HTTP API's `history` carries them
    history: tuple[tuple[str, str], ...] = ()


@dataclass
class QAFile:
    """The items of a file, the problems skipped, warnings, and the file's sha256."""

    items: list[QAItem]
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""
    format: str = "jsonl"


# Fields the readers understand; any other field is ignored with one warning per name.
_KNOWN = frozenset(
    {
        "id",
        "question",
        "answers",
        "evidence",
        "answerable",
        "lang",
        "source",
        "context",
        "is_impossible",
        "title",
        "plausible_answers",
        "category",
        "article",
        "history",
    }
)
_ROLES = ("user", "assistant")


def _str_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRow(f"field {name!r} must be a list of strings")
    if any(not v.strip() for v in value):
        raise BadRow(f"field {name!r} holds an empty string")
    for v in value:
        _check_text(v, name)
    return tuple(value)


def _check_text(value: str, name: str) -> None:
    """Raise BadRow when `value` cannot be written as UTF-8: JSON's `\\ud800` escapes decode to
    lone surrogates, which are not text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRow(
            f"field {name!r} is not valid text (a lone surrogate "
            f"U+{ord(value[exc.start]):04X} at character {exc.start + 1})"
        ) from None


def _optional_str(row: dict[str, Any], name: str) -> str | None:
    """A field that, when present, is a non-empty string (stripped)."""
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRow(f"field {name!r} must be a non-empty string")
    _check_text(value, name)
    return value.strip()


def _history(value: Any) -> tuple[tuple[str, str], ...]:
    """Earlier turns: a list of {"role": "user"|"assistant", "content": str}."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRow('field \'history\' must be a list of {"role", "content"} objects')
    turns = []
    for n, turn in enumerate(value, start=1):
        if not isinstance(turn, dict):
            raise BadRow(f"history turn {n}: expected an object, got {kind_of(turn)}")
        role, content = turn.get("role"), turn.get("content")
        if role not in _ROLES:
            raise BadRow(f'history turn {n}: \'role\' must be "user" or "assistant"')
        if not isinstance(content, str) or not content.strip():
            raise BadRow(f"history turn {n}: 'content' must be a non-empty string")
        _check_text(content, "history")
        turns.append((str(role), content))
    return tuple(turns)


def _answers(value: Any, context: str | None) -> tuple[tuple[str, ...], tuple[Span, ...]]:
    """Answers as strings, or as SQuAD objects {text, answer_start} (spans need a
    context)."""
    if not isinstance(value, list) or not value or not any(isinstance(a, dict) for a in value):
        return _str_list(value, "answers"), ()
    if not all(isinstance(a, dict) for a in value):
        raise BadRow("field 'answers' mixes strings and objects")
    texts: list[str] = []
    spans: list[Span] = []
    for a in value:
        text, start = a.get("text"), a.get("answer_start")
        if not isinstance(text, str) or not text.strip():
            raise BadRow("each answer object needs a non-empty 'text'")
        _check_text(text, "answers")
        texts.append(text)
        if context is None:
            continue  # offsets into what? the texts still count as answers
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise BadRow("each answer object needs 'answer_start' (an integer >= 0)")
        if context[start : start + len(text)] != text:
            raise BadRow(f"answer {text!r} is not at offset {start} of the context")
        spans.append(Span(text=text, start=start))
    return tuple(texts), tuple(spans)


def _item(row: Any, line: int) -> QAItem:
    """One checked item from a parsed row (raises BadRow)."""
    if not isinstance(row, dict):
        raise BadRow(f"expected a JSON object, got {kind_of(row)}")
    item_id = row.get("id")
    if isinstance(item_id, LongNumber):
        raise BadRow(
            f"field 'id' is a number of {item_id.digits} digits (at most "
            f"{MAX_INT_DIGITS}; use a string)"
        )
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)
    if item_id is None:
        raise BadRow("field 'id' is missing")
    if not isinstance(item_id, str) or not item_id.strip():
        raise BadRow("field 'id' must be a non-empty string")
    _check_text(item_id, "id")
    question = row.get("question")
    if question is None:
        raise BadRow("field 'question' is missing")
    if not isinstance(question, str):
        raise BadRow("field 'question' must be a string")
    _check_text(question, "question")
    if not any(ch.isalnum() for ch in clean_text(question)):
        raise BadRow("field 'question' is empty")
    context = row.get("context")
    if context is not None:
        if not isinstance(context, str) or not clean_text(context).strip():
            raise BadRow("field 'context' must be a non-empty string")
        _check_text(context, "context")
        if len(context.encode("utf-8")) > MAX_ARTICLE_BYTES:
            raise BadRow(f"field 'context' is larger than {MAX_ARTICLE_BYTES} bytes")
    answerable = row.get("answerable", True)
    if not isinstance(answerable, bool):
        raise BadRow("field 'answerable' must be true or false")
    impossible = row.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise BadRow("field 'is_impossible' must be true or false")
    if impossible:
        answerable = False
    lang = row.get("lang")
    if lang is not None and (not isinstance(lang, str) or not lang.strip()):
        raise BadRow("field 'lang' must be a non-empty string")
    if lang is not None:
        _check_text(lang, "lang")
    source = row.get("source")
    if source is not None and not isinstance(source, (str, int)):
        raise BadRow("field 'source' must be a string")
    if isinstance(source, str):
        _check_text(source, "source")
    article = _optional_str(row, "article")
    if article is not None:
        if len(article) > 2000:
            raise BadRow("field 'article' must be an article id, a file path or a link")
        if context is not None:
            raise BadRow("an item has both 'context' and 'article'; give one")
    answers, spans = _answers(row.get("answers"), context)
    evidence = _str_list(row.get("evidence"), "evidence")
    if not answerable and (answers or evidence):
        raise BadRow("an unanswerable item has answers or evidence")
    category = _optional_str(row, "category")
    return QAItem(
        id=item_id.strip(),
        question=question,
        answers=answers,
        evidence=evidence,
        answerable=answerable,
        lang=lang.strip() if lang else None,
        source=str(source) if source not in (None, "") else None,
        context=context,
        spans=spans,
        line=line,
        category=category,
        article=article,
        history=_history(row.get("history")),
    )


def _open(path: Path) -> tuple[str, int]:
    """The file's sha256 and size; QAFileError when it cannot be read."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise QAFileError(f"{path}: is a directory, not a Q&A file")
        if not stat.S_ISREG(mode):
            # a FIFO would block the read and /dev/zero would never end it
            raise QAFileError(f"{path}: not a regular file")
        return sha256_file(path), path.stat().st_size
    except FileNotFoundError:
        raise QAFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise QAFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _whole_json(path: Path, size: int, strict: bool) -> tuple[Any, str] | None:
    """The parsed document and its text; None when it is not one JSON value and `strict`
    is off, or when it is several values one a line (JSONL)."""
    if size > MAX_JSON_BYTES:
        raise QAFileError(
            f"{path}:1: a JSON document larger than {MAX_JSON_BYTES} bytes; use JSONL"
        )
    data = read_bounded(path, MAX_JSON_BYTES, QAFileError, f"{path}:1")
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise QAFileError(f"{path}:{line}: not valid UTF-8 (byte {exc.start})") from None
    try:
        return DECODER.decode(text), text
    except json.JSONDecodeError as exc:
        if not strict or (exc.msg == "Extra data" and exc.lineno > 1):
            return None
        raise QAFileError(f"{path}:{exc.lineno}:{exc.colno}: bad JSON: {exc.msg}") from None
    except RecursionError:
        if not strict:
            return None  # read line by line, which names the line
        raise QAFileError(f"{path}:1: {TOO_DEEP}") from None


def _looks_like_json_document(path: Path) -> bool:
    """A pretty-printed JSON document under another name than `.json`: its first line opens
    an object or list and nothing more (or opens a SQuAD object)."""
    with path.open("rb") as fh:
        first = fh.readline(4096).lstrip(BOM).strip()
    return first in (b"{", b"[") or first.startswith((b'{"version"', b'{"data"'))


def read_qa_file(path: Path, skip_invalid: bool = False) -> QAFile:
    """Read and check a Q&A file; raises QAFileError on the first problem unless
    `skip_invalid`, in which case bad rows are listed in `skipped`."""
    sha, size = _open(path)
    if size == 0:
        raise QAFileError(f"{path}:1: the file is empty")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise QAFileError(f"{path}:1: the file is UTF-16; save it as UTF-8")
    result = QAFile(items=[], sha256=sha)
    unknown: dict[str, tuple[int, int]] = {}  # field -> (first line, rows)
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as fh:
            rows: Iterator[tuple[int, Any]]
            if suffix == ".csv":
                result.format = "csv"
                rows = csv_rows(fh, unknown)
            else:
                whole = None
                if suffix == ".json" or _looks_like_json_document(path):
                    # a JSON document; a `.json` holding JSONL, or a `.jsonl` whose first
                    # line is broken, is read line by line instead
                    whole = _whole_json(path, size, strict=suffix == ".json")
                if whole is not None:
                    data, text = whole
                    result.format = "squad" if isinstance(data, dict) else "json"
                    rows = squad_rows(data, text)
                else:
                    rows = jsonl_rows(fh)
            _collect(path, rows, result, unknown, skip_invalid)
    except OSError as exc:
        raise QAFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for name, (line, count) in sorted(unknown.items(), key=lambda kv: kv[1]):
        rows_note = f" (in {count} rows)" if count > 1 else ""
        what = "column" if result.format == "csv" else "field"
        result.warnings.append(f"{path}:{line}: unknown {what} {name!r} ignored{rows_note}")
    no_gold = [i for i in result.items if i.answerable and not (i.answers or i.evidence)]
    if no_gold:
        result.warnings.append(
            f"{path}:{no_gold[0].line}: {len(no_gold)} answerable item(s) have neither "
            "answers nor evidence; they count only in abstention metrics and coverage"
        )
    if not result.items:
        if result.skipped:
            raise QAFileError(
                f"{path}: no valid items ({len(result.skipped)} skipped; "
                f"first: {result.skipped[0]})"
            )
        raise QAFileError(f"{path}:1: no items")
    return result


def article_ref(ref: str, qa_path: Path) -> str:
    """An item's `article` as eval uses it: the absolute path of the file it names, looked
    for relative to the working folder, then to the Q&A file's folder and each folder above
    it (so "data/articles/x.txt" in a file under data/ names the repo's file wherever eval
    runs from); otherwise the reference as given: a link, or an indexed article's id."""
    if ref.lower().startswith(("http://", "https://")):
        return ref
    given = Path(ref).expanduser()
    if given.is_absolute():
        return str(given) if given.is_file() else ref
    folder = qa_path.resolve().parent
    for base in (Path.cwd(), folder, *folder.parents):
        candidate = base / given
        if candidate.is_file():
            return str(candidate.resolve())
    return ref


def is_article_file(ref: str) -> bool:
    """Whether an item's resolved `article` is a file or a link, which eval indexes itself
    (else it is an already indexed article's id)."""
    return Path(ref).is_absolute() or ref.lower().startswith(("http://", "https://"))


def _collect(
    path: Path,
    rows: Iterator[tuple[int, Any]],
    result: QAFile,
    unknown: dict[str, tuple[int, int]],
    skip_invalid: bool,
) -> None:
    seen: dict[str, QAItem] = {}
    contexts: dict[str, str] = {}  # one string object per distinct context
    for n, row in rows:
        try:
            if isinstance(row, BadRow):
                raise row
            item = _item(row, n)
            first = seen.get(item.id)
            if first is not None:
                same = replace(first, line=n) == item
                raise BadRow(
                    f"duplicate id {item.id!r} (first at line {first.line}, "
                    f"{'same' if same else 'different'} content)"
                )
            for name in set(row) - _KNOWN:
                line, count = unknown.get(name, (n, 0))
                unknown[name] = (line, count + 1)
        except BadRow as exc:
            where = f"{path}:{n}:{exc.col}" if exc.col is not None else f"{path}:{n}"
            message = f"{where}: {exc}"
            if not skip_invalid:
                raise QAFileError(message) from None
            result.skipped.append(message)
            continue
        if item.context is not None:
            item = replace(item, context=contexts.setdefault(item.context, item.context))
        if item.article is not None:
            item = replace(item, article=article_ref(item.article, path))
        seen[item.id] = item
        result.items.append(item)


def add_negatives(items: list[QAItem], seed: int) -> list[QAItem]:
    """For each item with a context, one more item asking its question against a different
    context (one with a different first line, so not the same document), chosen with the
    seed; id `<id>#neg`, unanswerable. Raises QAFileError if such an id already exists."""
    contexts = sorted({i.context for i in items if i.context is not None})
    firsts = [c.split("\n", 1)[0] for c in contexts]
    rng = random.Random(seed)
    ids = {i.id for i in items}
    out = list(items)
    for item in items:
        if item.context is None:
            continue
        first = item.context.split("\n", 1)[0]
        others = [c for c, f in zip(contexts, firsts, strict=True) if f != first]
        if not others:
            continue
        neg_id = f"{item.id}#neg"
        if neg_id in ids:
            raise QAFileError(
                f"--add-negatives: the file already has an item with id "
                f"{neg_id!r} (line {item.line})"
            )
        out.append(
            replace(
                item,
                id=neg_id,
                context=rng.choice(others),
                answerable=False,
                answers=(),
                evidence=(),
                spans=(),
            )
        )
    return out
