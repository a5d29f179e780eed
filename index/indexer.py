"""Indexing: article -> sentences -> chunks -> embeddings -> the store.

Unchanged articles (same text hash, same embedder and chunker) are skipped; a changed one is
rebuilt as a new generation of rows and switched to atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.records import Article, Manifest
from index.article import read_article, slugify
from index.chunk import CHUNKER_VERSION, make_chunks
from index.embedder import SentenceEmbedder
from index.sentence import split_article
from index.store import Store


@dataclass(frozen=True)
class IndexResult:
    """What indexing one article did."""

    article: Article
    manifest: Manifest
    skipped: bool


class Indexer:
    """Builds and refreshes sentence indexes in one store with one embedder."""

    def __init__(self, store: Store, embedder: Callable[[], SentenceEmbedder],
                 embedder_spec: str) -> None:
        # The embedder is a factory: an unchanged article needs no model at all.
        self._store = store
        self._embedder = embedder
        self._spec = embedder_spec

    def article_id_for(self, path: Path) -> str:
        """The id a file gets: the one it already has, else its unique slug."""
        source = str(path.resolve())
        taken: dict[str, str] = {}
        for article_id, known in self._store.sources().items():
            if known == source:
                return article_id
            taken[article_id] = known
        base = slugify(path.stem)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def index_file(self, path: Path, rebuild: bool = False) -> IndexResult:
        """Index one article file (a writer lock must be held by the caller)."""
        article = read_article(path, article_id="pending")
        article = Article(id=self.article_id_for(path), title=article.title, text=article.text,
                          sha256=article.sha256, source=str(path.resolve()))
        return self.index_article(article, rebuild=rebuild)

    def index_article(self, article: Article, rebuild: bool = False) -> IndexResult:
        """Index an article unless an identical index exists (caller holds the lock)."""
        current = self._store.manifest(article.id, self._spec)
        if (not rebuild and current is not None
                and current.article_sha256 == article.sha256
                and current.chunker_version == CHUNKER_VERSION):
            self._store.save_article(article)  # the text is the same; title/source may move
            return IndexResult(article=article, manifest=current, skipped=True)
        sentences = split_article(article)
        chunks = make_chunks(sentences)
        embedder = self._embedder()
        vectors = embedder.embed_documents_array([c.embed_text for c in chunks])
        manifest = self._store.write_index(article, chunks, vectors, self._spec,
                                           CHUNKER_VERSION)  # the text and record go with it
        return IndexResult(article=article, manifest=manifest, skipped=False)
