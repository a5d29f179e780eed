"""Training examples shared by every trainer: Q&A passages prepared like indexed articles,
question vectors, and each question's feature matrix and gold mask against a passage.

Passage and question embeddings are cached on disk by content hash (`index.vectorcache`),
so reruns are fast.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.ranking.features import (
    PreparedSentences,
    QuestionInfo,
    prepare_sentences,
    question_info,
)
from index.article import article_from_text, inline_id
from index.chunk import make_chunks
from index.embedder import SentenceEmbedder
from index.sentence import split_article
from index.vectorcache import cached, passage_key


class AnswerSpan(Protocol):
    """An answer's text and its offset in the raw context."""

    @property
    def start(self) -> int: ...
    @property
    def text(self) -> str: ...


class QAItem(Protocol):
    """What training reads of a Q&A item (the eval file's items have it): a question asked
    of a context, with the answer's spans in it."""

    @property
    def question(self) -> str: ...
    @property
    def context(self) -> str | None: ...
    @property
    def spans(self) -> Sequence[AnswerSpan]: ...
    @property
    def answerable(self) -> bool: ...


@dataclass(frozen=True)
class Passage:
    """A context prepared like an indexed article, with its sentence vectors in memory."""

    id: str
    text: str
    prepared: PreparedSentences


def prepare_passages(
    contexts: Sequence[str], embedder: SentenceEmbedder, cache: Path | None
) -> dict[str, Passage]:
    """Split, embed (cached) and parse each distinct context."""
    out: dict[str, Passage] = {}
    for text in dict.fromkeys(contexts):
        article = article_from_text(text, inline_id(text))
        sentences = split_article(article)
        chunks = make_chunks(sentences)
        vectors = cached(
            cache,
            passage_key(embedder.spec, article.text),
            lambda c=chunks: embedder.embed_documents_array(  # type: ignore[misc]
                [x.embed_text for x in c]
            ),
        )
        out[text] = Passage(
            id=article.id, text=article.text, prepared=prepare_sentences(sentences, vectors)
        )
    return out


def gold_mask(item: QAItem, passage: Passage) -> np.ndarray:
    """Which of the passage's sentences overlap the item's answer span(s)."""
    return np.array(
        [
            any(s.start < sp.start + len(sp.text) and sp.start < s.end for sp in item.spans)
            for s in passage.prepared.sentences
        ],
        dtype=bool,
    )


@dataclass(frozen=True)
class Example:
    """One question against one passage: its feature matrix and gold mask."""

    item: QAItem
    passage: Passage
    question: QuestionInfo
    matrix: np.ndarray
    gold: np.ndarray


def make_example(item: QAItem, passage: Passage, qvec: np.ndarray) -> Example:
    """Features of every sentence of `passage` for the item's question."""
    q = question_info(item.question)
    matrix = passage.prepared.features(q, qvec)
    gold = (
        gold_mask(item, passage)
        if item.context == passage.text
        else np.zeros(len(passage.prepared.sentences), dtype=bool)
    )
    return Example(item=item, passage=passage, question=q, matrix=matrix, gold=gold)


def first_line(item: QAItem) -> str:
    """The document a NorQuAD-style context belongs to: passages of one document share their
    first line (the headline)."""
    return (item.context or "").split("\n", 1)[0]


def negative_pairs(
    items: Sequence[QAItem], seed: int, document: Callable[[QAItem], str] = first_line
) -> list[tuple[QAItem, str]]:
    """Each item paired with the context of a different document (by `document`)."""
    doc_of = {i.context: document(i) for i in items if i.context is not None}
    contexts = sorted(doc_of)
    rng = random.Random(seed)
    pairs = []
    for item in items:
        if item.context is None:
            continue
        mine = document(item)
        others = [c for c in contexts if doc_of[c] != mine]
        if others:
            pairs.append((item, rng.choice(others)))
    return pairs


def without(passage: Passage, drop: np.ndarray) -> Passage:
    """The passage with some sentences removed: a same-topic passage that no longer holds
    the answer, the hard negative for the abstention model."""
    keep = [i for i in range(len(drop)) if not drop[i]]
    return Passage(id=passage.id + "-without", text="", prepared=passage.prepared.subset(keep))
