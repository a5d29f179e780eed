"""The one way the product reads a file a user can name: a regular file, at most a cap.

Every file opened by path (articles, eval baselines, the ranker and reranker files, the
feedback log, bench's questions) goes through `read_bounded`. The cap counts bytes actually
read, never `stat().st_size`: that is 0 for devices, pipes and /proc files, so trusting it
lets `/dev/zero` fill memory and a FIFO block forever.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from core.errors import ArticlebotError, FileReadError

MB = 1_000_000
# The caps, by kind of file: each far above what the product writes or ships.
BASELINE_LIMIT = 10 * MB  # an eval summary.json
MODEL_FILE_LIMIT = 10 * MB  # ranker.json, reranker.json, short_answer.json (tens of kB)
GRAPH_LIMIT = 500 * MB  # the reranker's ONNX graph (21 MB shipped)
LOG_LIMIT = 100 * MB  # the feedback log (a rating is about 1 kB)
JOURNAL_LIMIT = 2_000 * MB  # an eval journal (a line per item, a few kB each)
QUESTIONS_LIMIT = 100 * MB  # a questions file for bench (NorQuAD's train file is 9 MB)


def check_regular(
    path: Path, error: type[ArticlebotError] = FileReadError, name: str | None = None
) -> None:
    """Raise `error` unless `path` is an existing regular file (for a file handed to a
    library that opens it itself)."""
    where = name or str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except OSError as exc:
        raise error(f"{where}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{where}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise error(f"{where}: not a regular file")


def read_bounded(
    path: Path, limit: int, error: type[ArticlebotError] = FileReadError, name: str | None = None
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `error` (with `name`, default
    the path, at the start of its one line) for anything else.

    Anything but a regular file is refused before it is opened for reading, and the file is
    opened without blocking and checked again on the open descriptor, so a FIFO swapped in
    after the first check cannot hang the read."""
    where = name or str(path)
    check_regular(path, error, name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise error(f"{where}: not a regular file")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except IsADirectoryError:
        raise error(f"{where}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{where}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{where}: larger than the {limit} byte limit")
    return data


def read_text_bounded(
    path: Path, limit: int, error: type[ArticlebotError] = FileReadError, name: str | None = None
) -> str:
    """`read_bounded` decoded as strict UTF-8 (a BOM is dropped)."""
    data = read_bounded(path, limit, error, name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{name or path}: not valid UTF-8 at byte {exc.start}") from None


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks (a model's provenance names the data
    it was trained on by it). OSError when it cannot be read."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
