"""Opening a Chroma client: embedded (a directory) or HTTP (`chroma run`), never hanging.

Every failure becomes one `StoreError` line: a malformed URL, a dead, hung or refusing
server (its heartbeat is asked first, with a timeout, because chromadb's own client would
wait without limit), or a store directory that cannot be opened. Telemetry is off.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from core.errors import ArticleNotFoundError, StoreError

SERVER_CONNECT_TIMEOUT_S = 10.0  # a Chroma server that does not answer its heartbeat by then
SERVER_CALL_TIMEOUT_S = 120.0  # any later request to the server

T = TypeVar("T")


@dataclass(frozen=True)
class ClientSpec:
    """Where the store's data lives: a directory, or a Chroma server (`url`)."""

    path: Path
    url: str | None = None
    token: str | None = None

    def describe(self) -> str:
        """Where the store lives, for messages."""
        return self.url or str(self.path)


def first_line(exc: BaseException) -> str:
    """An exception as one short line (its type name when it has no text)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def call(place: str, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a Chroma call, turning its many failure types into one StoreError line."""
    try:
        return fn(*args, **kwargs)
    except (StoreError, ArticleNotFoundError):
        raise
    except Exception as exc:
        raise StoreError(f"store {place}: {what} failed: {first_line(exc)}") from None


EPOCH_FILE = ".articlebot-epoch"


class ClientHolder:
    """The store's Chroma client, reopened when another process has written.

    An embedded client keeps a collection's vector index in memory once loaded and never
    reloads it, so after another process writes to that collection its queries miss the new
    rows or fail outright. Every writer therefore stamps an epoch file in the store directory
    before it makes new rows visible (before a pointer flip) and after it deletes rows; a
    client opened before the current stamp is replaced by a fresh one. A server has one
    process behind every client and needs none of this.
    """

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self._client: Any = None
        self._epoch: str | None = None
        self.serial = 0  # bumped on every (re)open: handles from an older client are stale

    def get(self) -> Any:
        """The client, fresh with respect to the last writer's stamp."""
        if self._client is not None and not self.spec.url and self._read_epoch() != self._epoch:
            self._client = None
        if self._client is None:
            epoch = None if self.spec.url else self._read_epoch()
            self._client = _fresh_client(self.spec)
            self._epoch = epoch  # read before opening: a later stamp means a later reopen
            self.serial += 1
        return self._client

    def reset(self) -> None:
        """Open a fresh client on next use (an embedded one may hold a stale index)."""
        if not self.spec.url:
            self._client = None

    def stamp(self) -> None:
        """Tell other processes' embedded clients that this one has written."""
        if self.spec.url:
            return
        epoch = uuid.uuid4().hex
        path = self.spec.path / EPOCH_FILE
        tmp = path.with_name(f"{EPOCH_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(epoch, encoding="ascii")
            tmp.replace(path)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror}") from None
        self._epoch = epoch  # this client wrote the rows itself: it is current

    def _read_epoch(self) -> str:
        try:
            return (self.spec.path / EPOCH_FILE).read_text(encoding="ascii")
        except OSError:
            return ""


def _fresh_client(spec: ClientSpec) -> Any:
    """A new client; for an embedded store, never the one chromadb caches for the path
    (that would bring back the stale in-memory indexes)."""
    if not spec.url:
        from chromadb.api.shared_system_client import SharedSystemClient

        # Forgetting the cached system leaves clients still holding it working as before.
        key = str(spec.path)
        SharedSystemClient._identifier_to_system.pop(key, None)
        SharedSystemClient._identifier_to_refcount.pop(key, None)
    return open_client(spec)


def open_client(spec: ClientSpec) -> Any:
    """A chromadb client for `spec` (StoreError when it cannot be had)."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if spec.url:
        url = urlparse(spec.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"--chroma-url {spec.url!r}: expected http(s)://HOST:PORT")
        headers = {"Authorization": f"Bearer {spec.token}"} if spec.token else None
        preflight(spec.url, headers or {})
        try:
            client: Any = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 80),
                ssl=url.scheme == "https",
                headers=headers,
                settings=settings,
            )
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {spec.url}: {first_line(exc)}"
            ) from None
        # chromadb's HTTP session has no timeout at all: a server that hangs later, after
        # the heartbeat, would hang us with it.
        with contextlib.suppress(AttributeError, ImportError):
            import httpx

            client._server._session.timeout = httpx.Timeout(SERVER_CALL_TIMEOUT_S)
        return client
    try:
        spec.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(spec.path), settings=settings)
    except Exception as exc:
        raise StoreError(f"cannot open the store at {spec.path}: {first_line(exc)}") from None


def preflight(
    base_url: str, headers: dict[str, str], timeout: float = SERVER_CONNECT_TIMEOUT_S
) -> None:
    """Ask the server's heartbeat with a timeout, so that a dead or hung server is a clear
    error within seconds."""
    request = urllib.request.Request(f"{base_url.rstrip('/')}/api/v2/heartbeat", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(4096)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise StoreError(
                f"the Chroma server at {base_url} refused the request "
                f"(HTTP {exc.code}); check --chroma-token"
            ) from None
        raise StoreError(
            f"the Chroma server at {base_url} answered HTTP {exc.code} to its "
            "heartbeat; is it a Chroma server?"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(
            f"cannot reach the Chroma server at {base_url}: {reason}; is `chroma run` up?"
        ) from None


def chromadb_version() -> str:
    """The running chromadb's version."""
    import chromadb

    return str(chromadb.__version__)


def major_minor(version: str) -> str:
    """`1.5.9` -> `1.5`."""
    return ".".join(version.split(".")[:2])
