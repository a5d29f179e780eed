"""Cross-lingual training pairs: a question in one language over its paragraph in another.

XQuAD holds the same 1,190 questions and 240 paragraphs in several languages, professionally
translated, with the answer span marked in each. A question asked in English of the German
paragraph shares almost no words with its answer sentence (names and numbers aside): the
only way to find the sentence is by meaning, which is what readers who do not echo the
article need. Each pair keeps the paragraph's own answer spans, so it trains exactly like a
NorQuAD item.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations
from typing import Protocol

from bot.training.examples import AnswerSpan, QAItem, first_line


@dataclass(frozen=True)
class CrossItem:
    """A question of one language paired with the context and spans of another."""

    question: str
    context: str | None
    spans: Sequence[AnswerSpan]
    answerable: bool
    direction: str
    # the paragraph, the same in every language: a negative must come from another one
    document: str


class _Identified(QAItem, Protocol):
    """A Q&A item with an id that is shared by its translations (XQuAD's ids are)."""

    @property
    def id(self) -> str: ...


def cross_pairs(
    by_language: Mapping[str, Sequence[_Identified]], per_question: int, seed: int
) -> list[CrossItem]:
    """For each question id present in every language, `per_question` pairs (drawn with
    `seed`) of its question in one language with its context in another."""
    languages = sorted(by_language)
    directions = list(permutations(languages, 2))
    index = {lang: {i.id: i for i in items} for lang, items in by_language.items()}
    shared = sorted(set.intersection(*(set(v) for v in index.values()))) if index else []
    # translations of one paragraph are one document: named by the first language's context
    first = languages[0] if languages else ""
    rng = random.Random(seed)
    out: list[CrossItem] = []
    for qid in shared:
        for asked, given in rng.sample(directions, min(per_question, len(directions))):
            q, c = index[asked][qid], index[given][qid]
            if c.context is None or not c.spans:
                continue
            paragraph = index[first][qid].context or qid
            out.append(
                CrossItem(q.question, c.context, c.spans, True, f"{asked}>{given}", paragraph)
            )
    return out


def document_of(item: QAItem) -> str:
    """The document of a training item: a cross-lingual pair's paragraph (in any of its
    languages), else the context's first line."""
    if isinstance(item, CrossItem):
        return item.document
    return first_line(item)
