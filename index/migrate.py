"""Migrating a store of the old layout (a collection per article and embedder, named `ab-...`,
and the `articlebot-registry` collection) into the current one, under the writer lock.

Each old index is copied with its stored vectors (no model is needed) as a new generation
and flipped to, article by article; the old collections are deleted only after every index
is copied, the old registry last. A migration cut short leaves the old registry in place, so
readers keep refusing the store and the next writer starts the migration again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.records import Article, Manifest, Sentence
from index.client import call
from index.layout import OLD_PREFIX, OLD_REGISTRY

# What a migration writes through: Store.write_sentences.
WriteSentences = Callable[[Article, Sequence[Sentence], np.ndarray, str, str], Manifest]


def migrate_old_layout(
    client: Any, where: str, write: WriteSentences, stamp: Callable[[], None]
) -> int:
    """Copy every consistent old index into the current layout, then delete the old
    collections; returns how many indexes were copied. `stamp` tells other processes."""
    names = [
        str(getattr(c, "name", c))
        for c in call(where, "listing collections", client.list_collections)
    ]
    copied = 0
    if OLD_REGISTRY in names:
        registry = call(where, "opening the old registry", client.get_collection, OLD_REGISTRY)
        copied = sum(
            _copy(where, write, client, registry, meta)
            for meta in _records(where, registry, "index")
        )
    for name in names:
        if name.startswith(OLD_PREFIX):
            call(where, "removing an old collection", client.delete_collection, name)
    if OLD_REGISTRY in names:
        call(where, "removing the old registry", client.delete_collection, OLD_REGISTRY)
    stamp()
    return copied


def _records(where: str, registry: Any, kind: str) -> list[dict[str, Any]]:
    got = call(
        where,
        "reading the old registry",
        registry.get,
        where={"kind": kind},
        include=["metadatas", "documents"],
    )
    return [{**m, "_document": d} for m, d in zip(got["metadatas"], got["documents"], strict=True)]


def _copy(
    where: str, write: WriteSentences, client: Any, registry: Any, pointer: dict[str, Any]
) -> bool:
    """Copy one old index; False when it cannot be trusted (it then needs a rebuild)."""
    article_id, sha = str(pointer["article_id"]), str(pointer["article_sha256"])
    texts = call(
        where, "reading the old text", registry.get, ids=[f"text::{sha}"], include=["documents"]
    )
    record = call(
        where,
        "reading the old article",
        registry.get,
        ids=[f"article::{article_id}"],
        include=["metadatas"],
    )
    if not texts["ids"] or not record["ids"]:
        return False
    meta = record["metadatas"][0]
    article = Article(
        id=article_id,
        title=str(meta["title"]),
        text=str(texts["documents"][0]),
        sha256=sha,
        source=str(meta["source"]),
    )
    try:
        old = client.get_collection(str(pointer["collection"]))
    except Exception:  # a pointer to a collection that is gone: nothing to copy
        return False
    got = call(
        where, "reading an old index", old.get, include=["documents", "metadatas", "embeddings"]
    )
    if len(got["ids"]) != int(pointer["sentence_count"]) or not got["ids"]:
        return False
    rows = sorted(
        zip(got["metadatas"], got["documents"], got["embeddings"], strict=True),
        key=lambda r: int(r[0]["n"]),
    )
    sentences = [
        Sentence(
            article_id=article_id,
            n=int(m["n"]),
            kind=m["kind"],
            text=str(d),
            start=int(m["start"]),
            end=int(m["end"]),
        )
        for m, d, _ in rows
    ]
    vectors = np.asarray([r[2] for r in rows], dtype=np.float32)
    write(article, sentences, vectors, str(pointer["embedder"]), str(pointer["chunker_version"]))
    return True
