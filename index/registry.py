"""The registry: which build of each article answers, kept in the store itself.

One record per (article, embedder) in that embedder's `articlebot-articles-...` collection,
with the article id as its id. Its metadata is the manifest of the live build (the pointer:
the build's generation is in it) plus the article's title and source; its document is the
article's text; its embedding is the article's centroid, the normalised mean of its
sentence vectors, in the embedder's own space. So every record carries a real vector of the
collection's dimension (nothing is padded with placeholder vectors) and the registry works
the same on a Chroma server. A pointer flip is the upsert of one record. A page or PDF's
byline, publication date and site are in the metadata too ("" where it gave none).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.records import Article, Manifest
from index.client import call
from index.layout import Collections


@dataclass(frozen=True)
class Entry:
    """One registry record without its text: the live build of an article for an embedder."""

    article_id: str
    title: str
    source: str
    saved_at: float  # when the record was last written (the newest names the article)
    manifest: Manifest
    byline: str | None = None
    published: str | None = None
    site: str | None = None


class Registry:
    """Reads and writes the registry records of every embedder in a store."""

    def __init__(self, collections: Collections) -> None:
        self._collections = collections
        self._where = collections.where

    def entry(self, article_id: str, embedder: str) -> Entry | None:
        """The live build of (article, embedder), or None when not indexed."""
        got = self.entries_for([article_id], embedder)
        return got.get(article_id)

    def entries_for(self, article_ids: Sequence[str], embedder: str) -> dict[str, Entry]:
        """The records of these articles for an embedder, by article id."""
        handle = self._collections.articles(embedder)
        if handle is None or not article_ids:
            return {}
        got = call(
            self._where,
            "reading the registry",
            handle.get,
            ids=list(article_ids),
            include=["metadatas"],
        )
        entries = (_entry(m) for m in got["metadatas"])
        return {e.article_id: e for e in entries}

    def entries(self, embedder: str | None = None) -> list[Entry]:
        """Every record (of one embedder, or of all), sorted by article id and embedder."""
        specs = [embedder] if embedder else self._collections.embedders()
        out: list[Entry] = []
        for spec in specs:
            handle = self._collections.articles(spec)
            if handle is not None:
                got = call(self._where, "listing the registry", handle.get, include=["metadatas"])
                out += [_entry(m) for m in got["metadatas"]]
        return sorted(out, key=lambda e: (e.article_id, e.manifest.embedder))

    def article(self, article_id: str) -> Article | None:
        """The article as its newest record has it (text included), or None."""
        best: tuple[float, Entry, str] | None = None
        for spec in self._collections.embedders():
            handle = self._collections.articles(spec)
            if handle is None:
                continue
            got = call(
                self._where,
                "reading the article",
                handle.get,
                ids=[article_id],
                include=["metadatas", "documents"],
            )
            if got["ids"]:
                entry = _entry(got["metadatas"][0])
                if best is None or entry.saved_at > best[0]:
                    best = (entry.saved_at, entry, str(got["documents"][0]))
        if best is None:
            return None
        _, entry, text = best
        return Article(
            id=entry.article_id,
            title=entry.title,
            text=text,
            sha256=entry.manifest.article_sha256,
            source=entry.source,
            byline=entry.byline,
            published=entry.published,
            site=entry.site,
        )

    def text(self, sha256: str) -> str | None:
        """A stored article text with this hash, or None."""
        for spec in self._collections.embedders():
            handle = self._collections.articles(spec)
            if handle is None:
                continue
            got = call(
                self._where,
                "reading the article text",
                handle.get,
                where={"article_sha256": sha256},
                include=["documents"],
                limit=1,
            )
            if got["ids"]:
                return str(got["documents"][0])
        return None

    def flip(self, builds: Sequence[tuple[Article, Manifest, np.ndarray]]) -> None:
        """Point each (article, embedder) at its manifest's build, given with the article's
        centroid: one upsert (all builds must be of one embedder)."""
        if not builds:
            return
        handle = self._collections.articles(builds[0][1].embedder, create=True)
        call(
            self._where,
            "switching to the new index",
            handle.upsert,
            ids=[a.id for a, _, _ in builds],
            embeddings=np.stack([c for _, _, c in builds]).astype(np.float32),
            documents=[a.text for a, _, _ in builds],
            metadatas=[_meta(a, m) for a, m, _ in builds],
        )

    def touch(self, article: Article) -> None:
        """Record a new title, source or metadata for an article whose text is
        unchanged."""
        for spec in self._collections.embedders():
            handle = self._collections.articles(spec)
            if handle is None:
                continue
            got = call(
                self._where,
                "reading the article",
                handle.get,
                ids=[article.id],
                include=["metadatas"],
            )
            if got["ids"] and got["metadatas"][0]["article_sha256"] == article.sha256:
                meta = {**got["metadatas"][0], **_described(article), "saved_at": time.time()}
                call(
                    self._where,
                    "saving the article",
                    handle.update,
                    ids=[article.id],
                    metadatas=[meta],
                )

    def delete(self, article_id: str, embedder: str) -> None:
        """Remove the record of (article, embedder)."""
        handle = self._collections.articles(embedder)
        if handle is not None:
            call(self._where, "removing the pointer", handle.delete, ids=[article_id])


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of an article's sentence vectors (its registry embedding)."""
    mean = np.asarray(vectors, dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:  # opposite sentences cancel out: any one of them still places it
        mean, norm = np.asarray(vectors[0], dtype=np.float64), float(np.linalg.norm(vectors[0]))
    out: np.ndarray = (mean / (norm or 1.0)).astype(np.float32)
    return out


def _described(article: Article) -> dict[str, Any]:
    """What a record says of its article besides the text (Chroma keeps no None: "")."""
    return {
        "title": article.title,
        "source": article.source,
        "byline": article.byline or "",
        "published": article.published or "",
        "site": article.site or "",
    }


def _meta(article: Article, manifest: Manifest) -> dict[str, Any]:
    return {
        "article_id": article.id,
        **_described(article),
        "saved_at": time.time(),
        "embedder": manifest.embedder,
        "dimension": manifest.dimension,
        "chunker_version": manifest.chunker_version,
        "article_sha256": manifest.article_sha256,
        "sentence_count": manifest.sentence_count,
        "collection": manifest.collection,
        "chromadb_version": manifest.chromadb_version,
    }


def _entry(meta: Any) -> Entry:
    manifest = Manifest(
        article_id=str(meta["article_id"]),
        embedder=str(meta["embedder"]),
        dimension=int(meta["dimension"]),
        chunker_version=str(meta["chunker_version"]),
        article_sha256=str(meta["article_sha256"]),
        sentence_count=int(meta["sentence_count"]),
        collection=str(meta["collection"]),
        chromadb_version=str(meta["chromadb_version"]),
    )
    return Entry(
        article_id=manifest.article_id,
        title=str(meta["title"]),
        source=str(meta["source"]),
        saved_at=float(meta["saved_at"]),
        manifest=manifest,
        byline=str(meta.get("byline") or "") or None,
        published=str(meta.get("published") or "") or None,
        site=str(meta.get("site") or "") or None,
    )
