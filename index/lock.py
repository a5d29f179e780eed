"""The store's writer lock: one writer at a time, readers never take it.

An OS file lock through `filelock` (flock on Linux and macOS, LockFileEx on Windows), so the
lock dies with its holder: a writer killed by SIGKILL never leaves the store locked.
"""

from __future__ import annotations

import contextlib
import hashlib
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


@contextlib.contextmanager
def writer_lock(path: Path, timeout: float, where: str) -> Iterator[None]:
    """Hold the lock at `path`; wait at most `timeout` seconds, then StoreBusyError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path}: {exc.strerror}") from None
    # No soft-lock fallback: a lock file that outlives a killed holder would block every
    # later writer. The file is kept on release so that all writers lock the same inode.
    lock = FileLock(str(path), timeout=timeout, thread_local=False, fallback_to_soft=False,
                    preserve_lock_file=True)
    try:
        lock.acquire(poll_interval=0.05)
    except Timeout:
        raise StoreBusyError(f"another articlebot process is writing to {where}; "
                             "try again when it has finished") from None
    except OSError as exc:
        raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()
