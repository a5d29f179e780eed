"""The store: every article's embedded sentences in Chroma, embedded or on a server.

It composes the client (`index.client`), the writer lock (`index.lock`), the layout
(`index.layout`) and the registry (`index.registry`). Per embedder one collection holds all
sentences; each row carries its article id and its build generation. A build writes its
generation's rows, then flips the article's registry record to that generation, then
deletes the previous generation's rows. Generations are announced in the sentence
collection's metadata before their first row is written, so that rows left by a build that
died (SIGKILL) are found and removed by the next writer without a scan; readers only ever
ask for the generation a record names. Writers take the lock; readers never wait for it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ArticleNotFoundError, ManifestMismatchError, StoreError
from core.records import Article, Chunk, Manifest, Sentence
from index.client import ClientHolder, ClientSpec, call, chromadb_version, major_minor
from index.layout import Collections, is_old_layout, old_layout_error, sentences_name
from index.lock import lock_path, writer_lock
from index.migrate import migrate_old_layout
from index.registry import Registry, centroid

_BATCH = 1000  # below Chroma's max batch size (5,461 here)
_FLUSH_ROWS = 2000  # a writer commits its builds in batches of about this many rows
_EXACT_ROWS = 1000  # `search` over at most this many rows reads them and scores exactly
CHROMA_DATABASE = "chroma.sqlite3"  # what an embedded Chroma writes first in its directory
_PENDING = "pending_generations"  # sentence-collection metadata: builds under way


@dataclass(frozen=True)
class ArticleInfo:
    """One indexed article as `articlebot articles` lists it."""

    id: str
    title: str
    sentences: int
    embedders: tuple[str, ...]
    sha256: str
    source: str
    byline: str | None = None
    published: str | None = None
    site: str | None = None


class Store:
    """Articles and their sentence indexes in Chroma (embedded, or a server)."""

    def __init__(
        self,
        path: Path,
        chroma_url: str | None = None,
        chroma_token: str | None = None,
        lock_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.chroma_url = chroma_url
        self.lock_timeout = lock_timeout
        self._holder = ClientHolder(ClientSpec(path=path, url=chroma_url, token=chroma_token))
        self._collections = Collections(self._holder)
        self._registry = Registry(self._collections)
        self._layout_ok = False
        self._writing = False  # inside writer(): builds are committed in batches
        self._builds: list[_Build] = []  # built, not yet committed

    # -- connection -----------------------------------------------------------------------

    def describe(self) -> str:
        """Where the store lives, for messages."""
        return self._holder.spec.describe()

    @property
    def client(self) -> Any:
        """The Chroma client, opened on first use (and anew after another process wrote)."""
        return self._collections.client

    def _made(self) -> bool:
        """Whether there is a store to read: a server, or a directory Chroma has written
        (reading one that was never made answers "empty" without making it)."""
        return self.chroma_url is not None or (self.path / CHROMA_DATABASE).exists()

    def _ready(self) -> None:
        """Commit pending builds (a read sees them), and refuse a store of the old layout
        (checked once per Store: layouts do not change back)."""
        if self._builds:
            self._flush()
        if not self._layout_ok:
            if is_old_layout(self._collections.names()):
                raise old_layout_error(self.describe())
            self._layout_ok = True

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the store's writer lock (wait at most `lock_timeout` seconds); on entry an
        old-layout store is migrated and dead builds are removed."""
        with writer_lock(lock_path(self.path, self.chroma_url), self.lock_timeout, self.describe()):
            if is_old_layout(self._collections.names()):
                migrate_old_layout(
                    self.client, self.describe(), self.write_sentences, self._holder.stamp
                )
            self._layout_ok = True
            self._sweep()
            self._writing = True
            try:
                yield
            except BaseException:
                with contextlib.suppress(Exception):  # keep what was built before the error
                    self._flush()
                raise
            else:
                self._flush()
            finally:
                self._writing = False

    def _sweep(self) -> None:
        """Delete the rows of announced generations that no record names (builds that died
        before their flip, or old generations whose delete was cut short)."""
        for spec in self._collections.embedders():
            handle = self._collections.refresh(spec)
            if handle is None:
                continue
            pending = _pending(handle)
            if not pending:
                continue
            live = {e.manifest.generation for e in self._registry.entries(spec)}
            dead = [g for g in pending if g not in live]
            for generation in dead:
                call(
                    self.describe(),
                    "removing a dead build",
                    handle.delete,
                    where={"generation": generation},
                )
            if dead:
                self._holder.stamp()
            self._set_pending(spec, [])

    def _set_pending(self, embedder: str, generations: list[str]) -> None:
        handle = self._collections.refresh(embedder)
        if handle is None:
            return
        meta = {**(handle.metadata or {}), _PENDING: ",".join(generations)}
        call(self.describe(), "announcing a build", handle.modify, metadata=meta)

    def write_index(
        self,
        article: Article,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        embedder: str,
        chunker_version: str,
    ) -> Manifest:
        """Write a new generation of the article's rows, flip its record to it, delete the
        previous generation (needs the writer lock)."""
        if len(chunks) != len(vectors):
            raise StoreError("internal: one vector per chunk is needed")
        return self.write_sentences(
            article, [c.sentence for c in chunks], vectors, embedder, chunker_version
        )

    def write_sentences(
        self,
        article: Article,
        sentences: Sequence[Sentence],
        vectors: np.ndarray,
        embedder: str,
        chunker_version: str,
    ) -> Manifest:
        """`write_index` for sentences whose vectors are known (a migration copies them).

        Under `writer()` builds are committed in batches (at about 2,000 rows, before any
        read but `manifest`, and when the lock is released): Chroma pays for a write
        call, not for its rows, so one call per article would cap indexing at a few
        articles a second. Every article still flips to a complete generation."""
        if not sentences or len(sentences) != len(vectors):
            raise StoreError(f"internal: {len(sentences)} sentences, {len(vectors)} vectors")
        if any(
            b.manifest.article_id == article.id and b.manifest.embedder == embedder
            for b in self._builds
        ):
            self._flush()  # a second build of one article: the first must be the old one
        generation = uuid.uuid4().hex
        manifest = Manifest(
            article_id=article.id,
            embedder=embedder,
            dimension=int(vectors.shape[1]),
            chunker_version=chunker_version,
            article_sha256=article.sha256,
            sentence_count=len(sentences),
            collection=f"{sentences_name(embedder)}/{generation}",
            chromadb_version=chromadb_version(),
        )
        old = self._registry.entry(article.id, embedder)
        self._builds.append(
            _Build(
                article=article,
                sentences=tuple(sentences),
                vectors=np.asarray(vectors, dtype=np.float32),
                manifest=manifest,
                old=old.manifest.generation if old else None,
            )
        )
        if not self._writing or sum(len(b.sentences) for b in self._builds) >= _FLUSH_ROWS:
            self._flush()
        return manifest

    def _flush(self) -> None:
        """Commit the pending builds, one embedder at a time."""
        while self._builds:
            embedder = self._builds[0].manifest.embedder
            batch = [b for b in self._builds if b.manifest.embedder == embedder]
            self._builds = [b for b in self._builds if b.manifest.embedder != embedder]
            self._commit(embedder, batch)

    def _commit(self, embedder: str, builds: list[_Build]) -> None:
        """Announce the generations, write their rows, check them, flip the records, delete
        the previous generations: a kill at any point leaves every article on a complete
        generation, and announced rows that no record names for the next sweep."""
        handle = self._collections.sentences(embedder, create=True)
        new = [b.manifest.generation for b in builds]
        old = [b.old for b in builds if b.old]
        self._set_pending(embedder, new + old)
        ids = [f"{b.manifest.generation}:{s.n}" for b in builds for s in b.sentences]
        vectors = np.concatenate([b.vectors for b in builds])
        sentences = [(s, b.manifest.generation) for b in builds for s in b.sentences]
        for lo in range(0, len(ids), _BATCH):
            part = sentences[lo : lo + _BATCH]
            call(
                self.describe(),
                "writing embeddings",
                handle.add,
                ids=ids[lo : lo + _BATCH],
                embeddings=vectors[lo : lo + _BATCH],
                documents=[x.text for x, _ in part],
                metadatas=[_row_meta(x, g) for x, g in part],
            )
        written = len(call(self.describe(), "counting", handle.get, ids=ids, include=[])["ids"])
        if written != len(ids):
            call(
                self.describe(), "removing a short build", handle.delete, where=_any_generation(new)
            )
            raise StoreError(
                f"store {self.describe()}: wrote {written} of {len(ids)} "
                "sentences; the previous index is kept"
            )
        self._holder.stamp()  # before the flip: a reader that sees it must reload
        self._registry.flip([(b.article, b.manifest, centroid(b.vectors)) for b in builds])
        if old:
            call(
                self.describe(),
                "removing the previous build",
                handle.delete,
                where=_any_generation(old),
            )
            self._holder.stamp()
        self._set_pending(embedder, [])

    def save_article(self, article: Article) -> None:
        """Record a new title, source or metadata of an article whose text is unchanged."""
        self._ready()
        self._registry.touch(article)

    def remove(self, article_id: str) -> None:
        """Remove an article and all its indexes (needs the writer lock)."""
        self._flush()
        self.article(article_id)  # raises when unknown
        for entry in self._registry.entries():
            if entry.article_id == article_id:
                self._registry.delete(article_id, entry.manifest.embedder)
                handle = self._collections.sentences(entry.manifest.embedder)
                if handle is not None:
                    call(
                        self.describe(),
                        "removing the article's sentences",
                        handle.delete,
                        where={"article_id": article_id},
                    )
        self._holder.stamp()

    # -- articles -------------------------------------------------------------------------

    def text(self, sha256: str) -> str:
        """The stored article text with this hash."""
        self._ready()
        text = self._registry.text(sha256)
        if text is None:
            raise ManifestMismatchError(
                f"the text of article {sha256[:12]} is missing from {self.describe()}; "
                "run `articlebot index --rebuild`"
            )
        return text

    def article(self, article_id: str) -> Article:
        """The stored article with this id."""
        self._ready()
        article = self._registry.article(article_id)
        if article is None:
            raise ArticleNotFoundError(
                f"no indexed article {article_id!r} in {self.describe()}; "
                "see `articlebot articles`, or index it with `articlebot index PATH`"
            )
        return article

    def sources(self) -> dict[str, str]:
        """Article id -> the source it was read from."""
        if not self._made():
            return {}
        self._ready()
        newest: dict[str, tuple[float, str]] = {}
        for e in self._registry.entries():
            if e.article_id not in newest or e.saved_at > newest[e.article_id][0]:
                newest[e.article_id] = (e.saved_at, e.source)
        return {a: s for a, (_, s) in sorted(newest.items())}

    def articles(self) -> list[ArticleInfo]:
        """The indexed articles with their sentence counts and embedders."""
        if not self._made():
            return []
        self._ready()
        grouped: dict[str, list[Any]] = {}
        for e in self._registry.entries():
            grouped.setdefault(e.article_id, []).append(e)
        out = []
        for article_id, entries in sorted(grouped.items()):
            newest = max(entries, key=lambda e: e.saved_at)
            out.append(
                ArticleInfo(
                    id=article_id,
                    title=newest.title,
                    sentences=max(e.manifest.sentence_count for e in entries),
                    embedders=tuple(sorted(e.manifest.embedder for e in entries)),
                    sha256=newest.manifest.article_sha256,
                    source=newest.source,
                    byline=newest.byline,
                    published=newest.published,
                    site=newest.site,
                )
            )
        return out

    # -- indexes --------------------------------------------------------------------------

    def manifests(self) -> list[Manifest]:
        """The manifests of every live index."""
        if not self._made():
            return []
        self._ready()
        return [e.manifest for e in self._registry.entries()]

    def manifest(self, article_id: str, embedder: str) -> Manifest | None:
        """The live manifest for (article, embedder), or None when not indexed; for this
        writer, a build it has not committed yet counts as live (reading it commits it)."""
        for b in reversed(self._builds):
            if b.manifest.article_id == article_id and b.manifest.embedder == embedder:
                return b.manifest
        if not self._made():
            return None
        if not self._layout_ok:
            self._ready()
        entry = self._registry.entry(article_id, embedder)
        return entry.manifest if entry else None

    def check(self, manifest: Manifest, dimension: int, chunker_version: str) -> None:
        """Refuse an index built with another dimension, chunker or Chroma version."""
        problems = []
        if manifest.dimension != dimension:
            problems.append(f"dimension {manifest.dimension} != {dimension}")
        if manifest.chunker_version != chunker_version:
            problems.append(f"chunker {manifest.chunker_version} != {chunker_version}")
        current = chromadb_version()
        if major_minor(manifest.chromadb_version) != major_minor(current):
            problems.append(f"built by chromadb {manifest.chromadb_version}, running {current}")
        if problems:
            raise ManifestMismatchError(
                f"the index of {manifest.article_id!r} for {manifest.embedder} does not match "
                f"({'; '.join(problems)}); run `articlebot index --rebuild`"
            )

    def sentences(self, manifest: Manifest) -> tuple[list[Sentence], np.ndarray]:
        """The sentences of an index, in document order, with their stored vectors."""
        handle = self._sentence_collection(manifest)
        got = call(
            self.describe(),
            "reading sentences",
            handle.get,
            ids=_row_ids(manifest),
            include=["documents", "metadatas", "embeddings"],
        )
        if len(got["ids"]) != manifest.sentence_count:
            raise ManifestMismatchError(
                f"the index of {manifest.article_id!r} holds {len(got['ids'])} sentences, its "
                f"manifest says {manifest.sentence_count}; run `articlebot index --rebuild`"
            )
        rows = sorted(
            zip(got["metadatas"], got["documents"], got["embeddings"], strict=True),
            key=lambda r: int(r[0]["n"]),
        )
        sentences = [_sentence(m, d) for m, d, _ in rows]
        vectors = np.asarray([r[2] for r in rows], dtype=np.float32).reshape(
            len(rows), manifest.dimension
        )
        return sentences, vectors

    def search(
        self,
        vector: np.ndarray,
        k: int,
        article_ids: Sequence[str] | None = None,
        *,
        embedder: str | None = None,
    ) -> list[tuple[Sentence, float]]:
        """The k sentences most like `vector` (cosine similarity, best first) among the live
        builds of `article_ids` (None: every article) for `embedder` (None: the store's only
        embedder)."""
        self._ready()
        spec = embedder or self._only_embedder()
        handle = self._collections.sentences(spec)
        if handle is None or k <= 0 or (article_ids is not None and not article_ids):
            return []
        ids = list(dict.fromkeys(article_ids)) if article_ids is not None else None
        if ids is not None:
            live_entries = self._registry.entries_for(ids, spec)
            if sum(e.manifest.sentence_count for e in live_entries.values()) <= _EXACT_ROWS:
                return self._exact(handle, [e.manifest for e in live_entries.values()], vector, k)
        where: dict[str, Any] | None = None
        if ids is not None:
            where = {"article_id": ids[0]} if len(ids) == 1 else {"article_id": {"$in": ids}}
        query = [np.asarray(vector, dtype=np.float32).tolist()]
        # Ask for more than k: rows of a build under way or dead are dropped afterwards.
        n = k + max(8, k)
        while True:
            got = self._query(handle, query, n, where)
            metas, docs = got["metadatas"][0], got["documents"][0]
            live = self._registry.entries_for(
                list(dict.fromkeys(str(m["article_id"]) for m in metas)), spec
            )
            out = [
                (_sentence(m, d), 1.0 - float(dist))
                for m, d, dist in zip(metas, docs, got["distances"][0], strict=True)
                if (e := live.get(str(m["article_id"]))) is not None
                and e.manifest.generation == m["generation"]
            ]
            if len(out) >= k or len(metas) < n:
                return out[:k]
            n *= 4  # dead rows crowded the answer out: look further

    def _exact(
        self, handle: Any, manifests: list[Manifest], vector: np.ndarray, k: int
    ) -> list[tuple[Sentence, float]]:
        """Exact cosine over a few articles' rows, read by id: for one article this is
        several times faster than a filtered vector-index query, and never approximate."""
        if not manifests:
            return []
        ids = [i for m in manifests for i in _row_ids(m)]
        got = call(
            self.describe(),
            "reading sentences",
            handle.get,
            ids=ids,
            include=["documents", "metadatas", "embeddings"],
        )
        if not got["ids"]:
            return []
        matrix = np.asarray(got["embeddings"], dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * (float(np.linalg.norm(query)) or 1.0)
        scores = (matrix @ query) / np.where(norms == 0, 1.0, norms)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            (_sentence(got["metadatas"][i], got["documents"][i]), float(scores[i])) for i in order
        ]

    def _query(
        self, handle: Any, query: list[list[float]], n: int, where: dict[str, Any] | None
    ) -> Any:
        try:
            return handle.query(
                query_embeddings=query,
                n_results=n,
                where=where,
                include=["metadatas", "documents", "distances"],
            )
        except Exception:
            # A stale in-memory index after another process wrote: reload once.
            self._holder.reset()
            spec = str((handle.metadata or {}).get("embedder", ""))
            fresh = self._collections.sentences(spec)
            return call(
                self.describe(),
                "searching",
                fresh.query,
                query_embeddings=query,
                n_results=n,
                where=where,
                include=["metadatas", "documents", "distances"],
            )

    def _only_embedder(self) -> str:
        specs = self._collections.embedders()
        if len(specs) != 1:
            raise StoreError(
                f"store {self.describe()} has {len(specs)} embedders "
                f"({', '.join(specs) or 'none'}); name the one to search"
            )
        return specs[0]

    def _sentence_collection(self, manifest: Manifest) -> Any:
        self._ready()
        handle = self._collections.sentences(manifest.embedder)
        if handle is None or handle.name != manifest.chroma_collection:
            raise ManifestMismatchError(
                f"the index of {manifest.article_id!r} names {manifest.chroma_collection}, "
                f"which {self.describe()} lacks; run `articlebot index --rebuild`"
            )
        return handle


@dataclass(frozen=True)
class _Build:
    """A build waiting to be committed: its rows, its manifest, the generation it replaces."""

    article: Article
    sentences: tuple[Sentence, ...]
    vectors: np.ndarray
    manifest: Manifest
    old: str | None


def _row_ids(manifest: Manifest) -> list[str]:
    """A build's row ids: its generation and the sentence numbers 1..n."""
    return [f"{manifest.generation}:{n}" for n in range(1, manifest.sentence_count + 1)]


def _any_generation(generations: list[str]) -> dict[str, Any]:
    if len(generations) == 1:
        return {"generation": generations[0]}
    return {"generation": {"$in": generations}}


def _pending(handle: Any) -> list[str]:
    return [g for g in str((handle.metadata or {}).get(_PENDING, "")).split(",") if g]


def _row_meta(s: Sentence, generation: str) -> dict[str, Any]:
    return {
        "article_id": s.article_id,
        "generation": generation,
        "n": s.n,
        "kind": s.kind,
        "start": s.start,
        "end": s.end,
    }


def _sentence(meta: Any, text: Any) -> Sentence:
    return Sentence(
        article_id=str(meta["article_id"]),
        n=int(meta["n"]),
        kind=meta["kind"],
        text=str(text),
        start=int(meta["start"]),
        end=int(meta["end"]),
    )
