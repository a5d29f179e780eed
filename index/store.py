"""The store: Chroma collections of embedded sentences, one per (article, embedder).

A registry collection, kept in the store itself so that it works the same on a Chroma
server, holds each article's text and, per (article, embedder), a pointer to the collection
that serves it together with its manifest. A build writes a complete new collection and then
flips the pointer; the old collection is removed after the flip, and collections that no
pointer names (left by a build that died) are removed by the next writer. Writers take a
lock file; readers never wait for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from index.errors import (
    ArticleNotFoundError,
    ManifestMismatchError,
    StoreBusyError,
    StoreError,
)
from index.records import Article, Chunk, Manifest, Sentence

REGISTRY = "articlebot-registry"
COLLECTION_PREFIX = "ab-"
_BATCH = 1000  # below Chroma's max batch size (5,461 here)
SERVER_CONNECT_TIMEOUT_S = 10.0  # a Chroma server that does not answer its heartbeat by then
SERVER_CALL_TIMEOUT_S = 120.0  # any later request to the server


@dataclass(frozen=True)
class ArticleInfo:
    """One indexed article as `articlebot articles` lists it."""

    id: str
    title: str
    sentences: int
    embedders: tuple[str, ...]
    sha256: str
    source: str


def _chromadb_version() -> str:
    import chromadb

    return str(chromadb.__version__)


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


class Store:
    """Articles and their sentence indexes in Chroma (embedded, or a server)."""

    def __init__(self, path: Path, chroma_url: str | None = None,
                 chroma_token: str | None = None, lock_timeout: float = 10.0) -> None:
        self.path = path
        self.chroma_url = chroma_url
        self.chroma_token = chroma_token
        self.lock_timeout = lock_timeout
        self._client: Any = None
        self._registry_collection: Any = None

    # -- connection -----------------------------------------------------------------------

    def describe(self) -> str:
        """Where the store lives, for messages."""
        return self.chroma_url or str(self.path)

    @property
    def client(self) -> Any:
        """The Chroma client, opened on first use."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if self.chroma_url:
            url = urlparse(self.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise StoreError(f"--chroma-url {self.chroma_url!r}: expected http(s)://HOST:PORT")
            headers = ({"Authorization": f"Bearer {self.chroma_token}"}
                       if self.chroma_token else None)
            self._preflight(headers or {})
            try:
                client: Any = chromadb.HttpClient(
                    host=url.hostname, port=url.port or (443 if url.scheme == "https" else 80),
                    ssl=url.scheme == "https", headers=headers, settings=settings)
            except Exception as exc:
                raise StoreError(f"cannot reach the Chroma server at {self.chroma_url}: "
                                 f"{_first_line(exc)}") from None
            # chromadb's HTTP session has no timeout at all: a hung server would hang us.
            with contextlib.suppress(AttributeError, ImportError):
                import httpx

                client._server._session.timeout = httpx.Timeout(SERVER_CALL_TIMEOUT_S)
            return client
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except Exception as exc:
            raise StoreError(f"cannot open the store at {self.path}: {_first_line(exc)}") from None

    def _preflight(self, headers: dict[str, str]) -> None:
        """Ask the server's heartbeat with a timeout, so that a dead or hung server is a
        clear error within seconds (chromadb's own client would wait without limit)."""
        import urllib.error
        import urllib.request

        url = f"{str(self.chroma_url).rstrip('/')}/api/v2/heartbeat"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=SERVER_CONNECT_TIMEOUT_S) as response:
                response.read(4096)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise StoreError(f"the Chroma server at {self.chroma_url} refused the request "
                                 f"(HTTP {exc.code}); check --chroma-token") from None
            raise StoreError(f"the Chroma server at {self.chroma_url} answered HTTP "
                             f"{exc.code} to its heartbeat; is it a Chroma server?") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(f"cannot reach the Chroma server at {self.chroma_url}: "
                             f"{reason}; is `chroma run` up?") from None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a Chroma call, turning its many failure types into one StoreError."""
        try:
            return fn(*args, **kwargs)
        except (StoreError, ArticleNotFoundError):
            raise
        except Exception as exc:
            raise StoreError(
                f"store {self.describe()}: {what} failed: {_first_line(exc)}") from None

    def _registry(self) -> Any:
        # The handle is kept: the registry is never dropped, and opening it costs a round
        # trip on every question otherwise.
        if self._registry_collection is None:
            self._registry_collection = self._call(
                "opening the registry", self.client.get_or_create_collection, REGISTRY,
                embedding_function=None)
        return self._registry_collection

    # -- locking --------------------------------------------------------------------------

    def _lock_path(self) -> Path:
        if self.chroma_url:
            key = hashlib.sha1(self.chroma_url.encode()).hexdigest()[:12]
            return self.path / f".articlebot-server-{key}.lock"
        return self.path / ".articlebot.lock"

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the store's writer lock; wait at most `lock_timeout` seconds for it."""
        lock_path = self._lock_path()
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {lock_path}: {exc.strerror}") from None
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusyError(
                            f"another articlebot process is writing to {self.describe()}; "
                            "try again when it has finished") from None
                    time.sleep(0.1)
            try:
                self._sweep()
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _sweep(self) -> None:
        """Remove collections that no pointer names: leftovers of builds that died."""
        live = {m.collection for m in self.manifests()}
        for name in self._call("listing collections", self.client.list_collections):
            name = getattr(name, "name", name)
            if name.startswith(COLLECTION_PREFIX) and name not in live:
                self._call("removing a dead build", self.client.delete_collection, name)
        used = {m.article_sha256 for m in self.manifests()}
        used |= {str(m["sha256"]) for m in self._article_records()}
        registry = self._registry()
        texts = self._call("listing texts", registry.get, where={"kind": "text"},
                           include=["metadatas"])
        dead = [i for i, m in zip(texts["ids"], texts["metadatas"], strict=True)
                if str(m["sha256"]) not in used]
        if dead:
            self._call("removing unused texts", registry.delete, ids=dead)

    # -- articles -------------------------------------------------------------------------

    def save_text(self, article: Article) -> None:
        """Store an article's text under its hash, before an index that needs it is built."""
        self._call("saving the article text", self._registry().upsert,
                   ids=[f"text::{article.sha256}"], documents=[article.text],
                   metadatas=[{"kind": "text", "sha256": article.sha256}], embeddings=[[0.0]])

    def save_article(self, article: Article) -> None:
        """Point an article id at its current text (after its index is switched)."""
        meta = {"kind": "article", "article_id": article.id, "title": article.title,
                "sha256": article.sha256, "source": article.source}
        self._call("saving the article", self._registry().upsert, ids=[f"article::{article.id}"],
                   documents=[article.title], metadatas=[meta], embeddings=[[0.0]])

    def text(self, sha256: str) -> str:
        """The stored article text with this hash."""
        got = self._call("reading the article text", self._registry().get,
                         ids=[f"text::{sha256}"], include=["documents"])
        if not got["ids"]:
            raise ManifestMismatchError(
                f"the text of article {sha256[:12]} is missing from {self.describe()}; "
                "run `articlebot index --rebuild`")
        return str(got["documents"][0])

    def _article_records(self) -> list[dict[str, Any]]:
        got = self._call("listing articles", self._registry().get, where={"kind": "article"},
                         include=["metadatas"])
        return sorted(got["metadatas"], key=lambda m: str(m["article_id"]))

    def article(self, article_id: str) -> Article:
        """The stored article with this id."""
        got = self._call("reading the article", self._registry().get,
                         ids=[f"article::{article_id}"], include=["metadatas"])
        if not got["ids"]:
            raise ArticleNotFoundError(
                f"no indexed article {article_id!r} in {self.describe()}; "
                "see `articlebot articles`, or index it with `articlebot index PATH`")
        return self._article_from(got["metadatas"][0])

    def _article_from(self, meta: dict[str, Any]) -> Article:
        sha = str(meta["sha256"])
        return Article(id=str(meta["article_id"]), title=str(meta["title"]), text=self.text(sha),
                       sha256=sha, source=str(meta["source"]))

    def sources(self) -> dict[str, str]:
        """Article id -> the source it was read from."""
        return {str(m["article_id"]): str(m["source"]) for m in self._article_records()}

    def stored_articles(self) -> list[Article]:
        """Every stored article (text included)."""
        return [self._article_from(m) for m in self._article_records()]

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles with their sentence counts and embedders."""
        manifests: dict[str, list[Manifest]] = {}
        for m in self.manifests():
            manifests.setdefault(m.article_id, []).append(m)
        out = []
        for a in self._article_records():
            ms = manifests.get(str(a["article_id"]), [])
            out.append(ArticleInfo(
                id=str(a["article_id"]), title=str(a["title"]),
                sentences=max((m.sentence_count for m in ms), default=0),
                embedders=tuple(sorted(m.embedder for m in ms)), sha256=str(a["sha256"]),
                source=str(a["source"])))
        return out

    def remove(self, article_id: str) -> None:
        """Remove an article and all its indexes (needs the writer lock)."""
        self.article(article_id)  # raises when unknown
        registry = self._registry()
        for m in self.manifests():
            if m.article_id == article_id:
                self._call("removing the pointer", registry.delete,
                           ids=[_pointer_id(m.article_id, m.embedder)])
                self._drop(m.collection)
        self._call("removing the article", registry.delete, ids=[f"article::{article_id}"])
        self._sweep()

    # -- indexes --------------------------------------------------------------------------

    def manifests(self) -> list[Manifest]:
        """The manifests of every live index."""
        got = self._call("listing indexes", self._registry().get, where={"kind": "index"},
                         include=["metadatas"])
        return [_manifest_from(m) for m in got["metadatas"]]

    def manifest(self, article_id: str, embedder: str) -> Manifest | None:
        """The live manifest for (article, embedder), or None when not indexed."""
        got = self._call("reading the manifest", self._registry().get,
                         ids=[_pointer_id(article_id, embedder)], include=["metadatas"])
        return _manifest_from(got["metadatas"][0]) if got["ids"] else None

    def check(self, manifest: Manifest, dimension: int, chunker_version: str) -> None:
        """Refuse an index built with another dimension, chunker or Chroma version."""
        problems = []
        if manifest.dimension != dimension:
            problems.append(f"dimension {manifest.dimension} != {dimension}")
        if manifest.chunker_version != chunker_version:
            problems.append(f"chunker {manifest.chunker_version} != {chunker_version}")
        current = _chromadb_version()
        if _major_minor(manifest.chromadb_version) != _major_minor(current):
            problems.append(f"built by chromadb {manifest.chromadb_version}, running {current}")
        if problems:
            raise ManifestMismatchError(
                f"the index of {manifest.article_id!r} for {manifest.embedder} does not match "
                f"({'; '.join(problems)}); run `articlebot index --rebuild`")

    def write_index(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
                    embedder: str, chunker_version: str) -> Manifest:
        """Write a complete new collection, then flip the pointer to it (needs the lock)."""
        if len(chunks) != len(vectors):
            raise StoreError("internal: one vector per chunk is needed")
        key = hashlib.sha1(f"{article.id}|{embedder}".encode()).hexdigest()[:12]
        name = f"{COLLECTION_PREFIX}{key}-{uuid.uuid4().hex[:8]}"
        dimension = int(vectors.shape[1]) if len(vectors) else 0
        manifest = Manifest(
            article_id=article.id, embedder=embedder, dimension=dimension,
            chunker_version=chunker_version, article_sha256=article.sha256,
            sentence_count=len(chunks), collection=name, chromadb_version=_chromadb_version())
        collection = self._call(
            "creating a collection", self.client.create_collection, name,
            embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
            metadata={"articlebot_manifest": json.dumps(asdict(manifest))})
        for lo in range(0, len(chunks), _BATCH):
            part = chunks[lo:lo + _BATCH]
            self._call("writing embeddings", collection.add,
                       ids=[c.id for c in part], embeddings=vectors[lo:lo + _BATCH],
                       documents=[c.sentence.text for c in part],
                       metadatas=[_sentence_meta(c.sentence) for c in part])
        written = self._call("counting", collection.count)
        if written != len(chunks):
            self._drop(name)
            raise StoreError(f"store {self.describe()}: wrote {written} of {len(chunks)} "
                             "sentences; the previous index is kept")
        old = self.manifest(article.id, embedder)
        meta = {"kind": "index", **asdict(manifest)}
        self._call("switching to the new index", self._registry().upsert,
                   ids=[_pointer_id(article.id, embedder)], documents=[name],
                   metadatas=[meta], embeddings=[[0.0]])
        if old is not None and old.collection != name:
            self._drop(old.collection)
        return manifest

    def _drop(self, name: str) -> None:
        with contextlib.suppress(Exception):  # already gone is fine
            self.client.delete_collection(name)

    def sentences(self, manifest: Manifest) -> tuple[list[Sentence], np.ndarray]:
        """The sentences of an index, in document order, with their stored vectors."""
        collection = self._collection(manifest)
        got = self._call("reading sentences", collection.get,
                         include=["documents", "metadatas", "embeddings"])
        if len(got["ids"]) != manifest.sentence_count:
            raise ManifestMismatchError(
                f"the index of {manifest.article_id!r} holds {len(got['ids'])} sentences, its "
                f"manifest says {manifest.sentence_count}; run `articlebot index --rebuild`")
        rows = sorted(zip(got["metadatas"], got["documents"], got["embeddings"], strict=True),
                      key=lambda r: int(r[0]["n"]))
        sentences = [Sentence(article_id=manifest.article_id, n=int(m["n"]), kind=m["kind"],
                              text=d, start=int(m["start"]), end=int(m["end"]))
                     for m, d, _ in rows]
        vectors = np.asarray([r[2] for r in rows], dtype=np.float32).reshape(
            len(rows), manifest.dimension)
        return sentences, vectors

    def probe(self, manifest: Manifest, vector: np.ndarray) -> None:
        """Check that the vector index finds every sentence, not only that the counts match:
        a killed writer can leave a segment whose count looks right while queries come back
        short (chroma#7678), and a short answer would silently skew every ranking."""
        collection = self._collection(manifest)
        found = 0
        for attempt in range(3):
            got = self._call("probing the index", collection.query,
                             query_embeddings=[vector.tolist()],
                             n_results=max(1, manifest.sentence_count), include=["distances"])
            found = len(got["ids"][0])
            if found == manifest.sentence_count:
                return
            time.sleep(0.2 * (attempt + 1))  # a writer may still be flushing its segment
        raise ManifestMismatchError(
            f"the index of {manifest.article_id!r} finds {found} of its "
            f"{manifest.sentence_count} sentences; run `articlebot index --rebuild`")

    def _collection(self, manifest: Manifest) -> Any:
        return self._call("opening the index", self.client.get_collection, manifest.collection)

    def vectorstore(self, manifest: Manifest, embedding: Any) -> Any:
        """The index as a LangChain `Chroma` vector store."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=manifest.collection,
                      embedding_function=embedding, create_collection_if_not_exists=False)


def _pointer_id(article_id: str, embedder: str) -> str:
    return f"index::{article_id}::{embedder}"


def _sentence_meta(s: Sentence) -> dict[str, Any]:
    return {"n": s.n, "kind": s.kind, "start": s.start, "end": s.end,
            "article_id": s.article_id}


def _manifest_from(meta: dict[str, Any]) -> Manifest:
    return Manifest(
        article_id=str(meta["article_id"]), embedder=str(meta["embedder"]),
        dimension=int(meta["dimension"]), chunker_version=str(meta["chunker_version"]),
        article_sha256=str(meta["article_sha256"]),
        sentence_count=int(meta["sentence_count"]), collection=str(meta["collection"]),
        chromadb_version=str(meta["chromadb_version"]))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
