"""The writer lock (`filelock`): one writer at a time, bounded waits, dies with its holder."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import StoreBusyError
from index.lock import lock_path, writer_lock
from index.store import Store
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from index.lock import writer_lock
with writer_lock(Path(sys.argv[1]), 5, "here"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_in_process_fails_after_its_timeout(tmp_path: Path) -> None:
    one = Store(tmp_path / "s", lock_timeout=0.5)
    two = Store(tmp_path / "s", lock_timeout=0.5)
    with one.writer():
        t0 = time.monotonic()  # only the wait for the lock: opening the store is not timed
        with (
            pytest.raises(
                StoreBusyError, match=f"another articlebot process is writing to {tmp_path / 's'}"
            ),
            two.writer(),
        ):
            pass
        assert 0.5 <= time.monotonic() - t0 < 3.0
    with two.writer():  # released by the first: free at once
        pass


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = _holder(path, 1.0)
    t0 = time.monotonic()
    with writer_lock(path, 20, "here"):
        waited = time.monotonic() - t0
    holder.wait(timeout=30)
    assert 0.3 < waited < 10  # it waited for the holder, not for its whole timeout


def test_the_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = _holder(path, 300)
    with pytest.raises(StoreBusyError), writer_lock(path, 0.3, "here"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert path.exists()  # a stale file must not matter: the OS lock is what counts
    t0 = time.monotonic()
    with writer_lock(path, 5, "here"):
        assert time.monotonic() - t0 < 1.0


def test_lock_files_are_per_store_and_per_server(tmp_path: Path) -> None:
    assert lock_path(tmp_path) == tmp_path / ".articlebot.lock"
    one = lock_path(tmp_path, "http://127.0.0.1:8000")
    two = lock_path(tmp_path, "http://127.0.0.1:8001")
    assert one != two and one.parent == tmp_path


def test_writers_of_one_process_take_turns_past_their_timeout(tmp_path: Path) -> None:
    """Two threads of one process (a server's concurrent uploads): the second waits for the
    first however long it writes, where a file lock alone would time out as 'busy'."""
    import threading

    path = tmp_path / "x.lock"
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with writer_lock(path, 0.2, "here"):
            order.append("first in")
            entered.set()
            release.wait(timeout=30)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(timeout=30)
    timer = threading.Timer(1.0, release.set)  # the holder writes longer than the timeout
    timer.start()
    with writer_lock(path, 0.2, "here"):
        order.append("second in")
    thread.join(timeout=30)
    timer.cancel()
    assert order == ["first in", "first out", "second in"]
