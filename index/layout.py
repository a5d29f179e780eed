"""The store's layout: which Chroma collections exist, their names, and their handles.

Per embedder, two collections:

- `articlebot-sentences-<key>`: every article's sentences, each row carrying its article id
  and its build generation in metadata (cosine space, the embedder's own vectors);
- `articlebot-articles-<key>`: the registry, one record per article (see `index.registry`).

`<key>` is a hash of the embedder spec, so two embedders of one dimension never share rows.
The layout before this one kept a collection per (article, embedder), named `ab-...`, and a
registry named `articlebot-registry`; such a store is recognised and never read as if it
were this one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from core.errors import ManifestMismatchError
from index.client import ClientHolder, call

SENTENCES_PREFIX = "articlebot-sentences-"
ARTICLES_PREFIX = "articlebot-articles-"
LAYOUT = 2  # stamped into every collection's metadata
OLD_REGISTRY = "articlebot-registry"
OLD_PREFIX = "ab-"
_SPACE = {"hnsw": {"space": "cosine"}}


def embedder_key(embedder: str) -> str:
    """A collection-name-safe key for an embedder spec."""
    return hashlib.sha1(embedder.encode("utf-8")).hexdigest()[:16]


def sentences_name(embedder: str) -> str:
    """The sentence collection of an embedder."""
    return f"{SENTENCES_PREFIX}{embedder_key(embedder)}"


def articles_name(embedder: str) -> str:
    """The registry collection of an embedder."""
    return f"{ARTICLES_PREFIX}{embedder_key(embedder)}"


def is_old_layout(names: list[str]) -> bool:
    """Whether collection names show the per-article layout of earlier versions."""
    return any(n == OLD_REGISTRY or n.startswith(OLD_PREFIX) for n in names)


def old_layout_error(where: str) -> ManifestMismatchError:
    """The refusal a reader gives for a store of the old layout."""
    return ManifestMismatchError(
        f"the store at {where} has the old one-collection-per-article layout; "
        "run `articlebot index --rebuild` to migrate it"
    )


class Collections:
    """Handles on the store's collections, cached while the client stays the same."""

    def __init__(self, holder: ClientHolder) -> None:
        self.holder = holder
        self.where = holder.spec.describe()
        self._handles: dict[str, Any] = {}
        self._serial = -1

    @property
    def client(self) -> Any:
        """The current client (a reopened one drops every cached handle)."""
        client = self.holder.get()
        if self.holder.serial != self._serial:
            self._handles.clear()
            self._serial = self.holder.serial
        return client

    def names(self) -> list[str]:
        """Every collection's name in the store."""
        listed = call(self.where, "listing collections", self.client.list_collections)
        return sorted(str(getattr(c, "name", c)) for c in listed)

    def embedders(self) -> list[str]:
        """The embedder specs that have a registry in the store."""
        out = []
        for name in self.names():
            if name.startswith(ARTICLES_PREFIX):
                handle = self._open(name)
                spec = (handle.metadata or {}).get("embedder") if handle is not None else None
                if spec:
                    out.append(str(spec))
        return sorted(out)

    def sentences(self, embedder: str, create: bool = False) -> Any:
        """The embedder's sentence collection (None when it has none and create is off)."""
        return self._get(sentences_name(embedder), embedder, create)

    def articles(self, embedder: str, create: bool = False) -> Any:
        """The embedder's registry collection (None when it has none and create is off)."""
        return self._get(articles_name(embedder), embedder, create)

    def refresh(self, embedder: str) -> Any:
        """The sentence collection opened anew (its metadata as stored now)."""
        self._handles.pop(sentences_name(embedder), None)
        return self.sentences(embedder)

    def drop(self, name: str) -> None:
        """Delete a collection by name (gone already is fine)."""
        self._handles.pop(name, None)
        try:
            self.client.delete_collection(name)
        except Exception:  # already gone: nothing to remove
            return

    def _get(self, name: str, embedder: str, create: bool) -> Any:
        client = self.client
        if name in self._handles:
            return self._handles[name]
        if create:
            handle = call(
                self.where,
                "creating a collection",
                client.get_or_create_collection,
                name,
                embedding_function=None,
                configuration=_SPACE,
                metadata={"articlebot_layout": LAYOUT, "embedder": embedder},
            )
        else:
            handle = self._open(name)
            if handle is None:
                return None  # not cached: a writer may create it later
        self._handles[name] = handle
        return handle

    def _open(self, name: str) -> Any | None:
        try:
            return self.client.get_collection(name)
        except Exception as exc:
            if "does not exist" in str(exc) or type(exc).__name__ == "NotFoundError":
                return None
            return call(self.where, "opening a collection", _reraise, exc)


def _reraise(exc: Exception) -> None:
    raise exc
