"""core/files.py: bounded reads of files a user names, and the sha256 that pins a file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.errors import FileReadError, QAFileError
from core.files import check_regular, read_bounded, read_text_bounded, sha256_file


def test_read_bounded_reads_up_to_the_cap_and_refuses_past_it(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10
    with pytest.raises(FileReadError, match="larger than the 9 byte limit"):
        read_bounded(path, 9)


def test_anything_but_a_regular_file_is_refused_by_name(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # a FIFO with no writer would block an ordinary open forever
    with pytest.raises(FileReadError, match="pipe: not a regular file"):
        read_bounded(fifo, 100)
    with pytest.raises(QAFileError, match=r"^questions: is a directory"):
        check_regular(tmp_path, QAFileError, "questions")
    with pytest.raises(FileReadError, match="no such file"):
        read_bounded(tmp_path / "none", 100)


def test_text_is_strict_utf8_without_its_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfbl\xc3\xa5b\xc3\xa6r")
    assert read_text_bounded(path, 100) == "blåbær"
    path.write_bytes(b"bl\xe5")  # Latin-1
    with pytest.raises(FileReadError, match="not valid UTF-8 at byte 2"):
        read_text_bounded(path, 100)


def test_sha256_file_is_the_bytes_digest_also_past_one_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom((1 << 20) + 17)  # more than one read of the loop
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
