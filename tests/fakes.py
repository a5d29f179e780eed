"""Test doubles for what needs a model: a deterministic embedder (no model file, no download).

Not a mock of our code: a real LangChain `Embeddings` (through `SentenceEmbedder`), so the
store, the indexer, the retriever and the chain run as they do with e5.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from core.text import fold
from index.embedder import SentenceEmbedder, register_embedder

FAKE_EMBEDDER = "test:hashed-words"
_WORD = re.compile(r"\w+")


class HashedWordsEmbedder(SentenceEmbedder):
    """Each word (folded) hashed to one of `dimension` buckets, the counts normalised: texts
    sharing words are near, as with a real model, and the same text always gets the same
    vector."""

    def __init__(self, dimension: int = 256) -> None:
        self.spec = FAKE_EMBEDDER
        self.dimension = dimension

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD.findall(fold(text)):
            bucket = int.from_bytes(
                hashlib.blake2b(word.encode(), digest_size=4).digest(), "little"
            )
            v[bucket % self.dimension] += 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    def embed_query_array(self, text: str) -> np.ndarray:
        """The query's vector."""
        return self._vector(text)

    def embed_documents_array(self, texts: Sequence[str]) -> np.ndarray:
        """The passages' vectors, one row each."""
        return (
            np.stack([self._vector(t) for t in texts])
            if texts
            else np.zeros((0, self.dimension), dtype=np.float32)
        )


def register_fake_embedder() -> HashedWordsEmbedder:
    """Make `FAKE_EMBEDDER` a spec Settings and the engine accept, in this process."""
    embedder = HashedWordsEmbedder()
    register_embedder(embedder)
    return embedder
