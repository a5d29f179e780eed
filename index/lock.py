"""The store's writer lock: one writer at a time, readers never take it.

An OS file lock through `filelock` (flock on Linux and macOS, LockFileEx on Windows), so the
lock dies with its holder: a writer killed by SIGKILL never leaves the store locked.

Writers of one process (a server's concurrent uploads) queue on a thread lock per lock file
before they take the file lock: an OS lock orders processes, and two threads of the same
process would otherwise wait on each other's file lock and time out as if another process
held it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from core.errors import StoreBusyError, StoreError


def lock_path(store_dir: Path, server_url: str | None = None) -> Path:
    """The lock file of a store: in its directory, or, for a server, one per server URL in
    the local store directory (it orders the writers of this machine only)."""
    if server_url:
        key = hashlib.sha1(server_url.encode()).hexdigest()[:12]
        return store_dir / f".articlebot-server-{key}.lock"
    return store_dir / ".articlebot.lock"


# One per lock file, for the writers of this process. Reentrant: a thread that opens a second
# writer on the same store while holding one waits on the file lock (and times out) as before.
_queues: dict[str, threading.RLock] = {}
_queues_guard = threading.Lock()


def _queue(path: Path) -> threading.RLock:
    key = str(path.absolute())
    with _queues_guard:
        return _queues.setdefault(key, threading.RLock())


@contextlib.contextmanager
def writer_lock(path: Path, timeout: float, where: str) -> Iterator[None]:
    """Hold the lock at `path`. Writers of this process take turns (each waits for the one
    before it, however long it writes); against another process, wait at most `timeout`
    seconds, then StoreBusyError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path}: {exc.strerror}") from None
    with _queue(path), _file_lock(path, timeout, where):
        yield


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float, where: str) -> Iterator[None]:
    # No soft-lock fallback: a lock file that outlives a killed holder would block every
    # later writer. The file is kept on release so that all writers lock the same inode.
    lock = FileLock(
        str(path),
        timeout=timeout,
        thread_local=False,
        fallback_to_soft=False,
        preserve_lock_file=True,
    )
    try:
        lock.acquire(poll_interval=0.05)
    except Timeout:
        raise StoreBusyError(
            f"another articlebot process is writing to {where}; try again when it has finished"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()
