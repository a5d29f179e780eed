"""Checking, before any work, that an output can be written where a user asked for it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import ConfigError


@contextlib.contextmanager
def writable_folder(folder: Path, out: Path | None = None) -> Iterator[None]:
    """Make `folder` (and its parents) for a check, prove new files can be created there,
    run the caller's own checks, and remove again whatever folders the check made (the
    outputs make them for real). Any OSError becomes a one-line ConfigError naming `out`
    (the --out given; `folder` by default)."""
    try:
        made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # os.access says yes to root and can be wrong on network mounts: creating a
            # file is the only answer that holds
            fd, probe = tempfile.mkstemp(prefix=".articlebot-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
            yield
        finally:
            for path in made:
                with contextlib.suppress(OSError):
                    path.rmdir()
    except OSError as exc:
        raise ConfigError(
            f"--out {out or folder}: cannot write there ({exc.strerror or exc})"
        ) from None
