"""Small real stores for index tests: synthetic unit vectors instead of a model."""

from __future__ import annotations

import numpy as np

from core.records import Article, Manifest, Sentence
from index.article import article_from_text
from index.chunk import CHUNKER_VERSION
from index.sentence import split_article
from index.store import Store

EMBEDDER = "test:unit-vectors"


def make_article(article_id: str, n_sentences: int = 5) -> tuple[Article, list[Sentence]]:
    """An article of `n_sentences` distinct sentences under a title."""
    body = " ".join(
        f"Setning nummer {i} i artikkel {article_id} handler om tema {i}."
        for i in range(1, n_sentences + 1)
    )
    article = article_from_text(f"Tittel {article_id}\n{body}\n", article_id)
    return article, split_article(article)


def unit_vectors(n: int, seed: int, dimension: int = 16) -> np.ndarray:
    """`n` random unit vectors."""
    v = np.random.default_rng(seed).normal(size=(n, dimension)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def write(
    store: Store, article_id: str, seed: int, n_sentences: int = 5, embedder: str = EMBEDDER
) -> tuple[Manifest, np.ndarray]:
    """Index a synthetic article under the writer lock; its manifest and vectors."""
    article, sentences = make_article(article_id, n_sentences)
    vectors = unit_vectors(len(sentences), seed)
    with store.writer():
        manifest = store.write_sentences(article, sentences, vectors, embedder, CHUNKER_VERSION)
    return manifest, vectors
