"""Typed records that travel between the build-time stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["section", "headline", "subheading", "teaser", "body"]
KINDS: tuple[Kind, ...] = ("section", "headline", "subheading", "teaser", "body")


@dataclass(frozen=True)
class Article:
    """An article's normalised text and identity.

    `text` is the stored text: UTF-8 decoded, BOM removed, NFC, newlines kept, invisible and
    control characters removed. Every offset in the product points into it.
    """

    id: str
    title: str
    text: str
    sha256: str
    source: str  # the file path or URL it came from, or "inline"
    # what a web page or PDF says of itself (None when it does not say, and for plain text)
    byline: str | None = None
    published: str | None = None  # an ISO 8601 date, "2023-09-06"
    site: str | None = None


@dataclass(frozen=True)
class Sentence:
    """One numbered unit of an article; `text == article.text[start:end]`."""

    article_id: str
    n: int
    kind: Kind
    text: str
    start: int
    end: int

    @property
    def id(self) -> str:
        """The sentence id, `<article_id>:<n>`."""
        return f"{self.article_id}:{self.n}"


@dataclass(frozen=True)
class Chunk:
    """What is embedded for one sentence: the sentence itself, and the text the model sees."""

    sentence: Sentence
    embed_text: str

    @property
    def id(self) -> str:
        """The chunk id equals its sentence's id: one chunk per sentence."""
        return self.sentence.id


@dataclass(frozen=True)
class Manifest:
    """What an index was built from; compared before any query uses it."""

    article_id: str
    embedder: str
    dimension: int
    chunker_version: str
    article_sha256: str
    sentence_count: int
    collection: str  # the build: `<sentence collection>/<generation>`, new on every build
    chromadb_version: str

    @property
    def chroma_collection(self) -> str:
        """The Chroma collection holding this build's sentences (with other articles')."""
        return self.collection.partition("/")[0]

    @property
    def generation(self) -> str:
        """The build's generation: its rows carry it, and no other build's rows do."""
        return self.collection.partition("/")[2]
