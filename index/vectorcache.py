"""Vectors kept on disk by content hash, so that reruns of training and the bench embed
nothing twice. A passage's key is `cache_key("p", embedder spec, CHUNKER_VERSION, text)`,
a list of questions' `cache_key("q", embedder spec, *questions)`: `train-ranker`,
`train-reranker`, `train-short-answer` and `bench --scale` share one cache folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.chunk import CHUNKER_VERSION
from index.embedder import SentenceEmbedder


def cache_key(*parts: str) -> str:
    """The file stem a vector array is kept under."""
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def passage_key(spec: str, text: str) -> str:
    """The key of a passage's sentence vectors (one row per chunk)."""
    return cache_key("p", spec, CHUNKER_VERSION, text)


def cached(cache: Path | None, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array kept under `key` in `cache`, computed and kept (atomically) when missing;
    without a cache folder, computed."""
    if cache is None:
        return compute()
    path = cache / f"{key}.npy"
    if path.exists():
        return np.asarray(np.load(path))
    value = compute()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, value)
    tmp.replace(path)
    return value


def embed_questions(
    questions: Sequence[str], embedder: SentenceEmbedder, cache: Path | None
) -> np.ndarray:
    """Query embeddings of many questions (cached as one array)."""
    return cached(
        cache,
        cache_key("q", embedder.spec, *questions),
        lambda: (
            np.stack([embedder.embed_query_array(q) for q in questions])
            if questions
            else np.zeros((0, embedder.dimension), dtype=np.float32)
        ),
    )
