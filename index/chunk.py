"""Chunks: what is embedded for each sentence.

One chunk per sentence keeps citations sentence-level. The embedded text is the bare sentence
(e5's passage prefix is added by the embedder): adding the headline and neighbours naively
was measured to collapse retrieval (docs/quality.md), because shared context swamps the
sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.records import Chunk, Sentence
from index.sentence import SPLITTER_VERSION

CHUNKER_VERSION = f"{SPLITTER_VERSION}+bare-v1"


def make_chunks(sentences: Sequence[Sentence]) -> list[Chunk]:
    """One chunk per sentence, embedding the sentence's own text."""
    return [Chunk(sentence=s, embed_text=s.text) for s in sentences]
