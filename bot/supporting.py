"""Which sentences an answer cites, beyond the best-ranked one: an overview's headline, lead
and main claim; the sentence after a claim that gives its reason; the sentence before one that
leans on it ("Det var ...", "... har gjort dette").

Every cited unit stays a verbatim sentence of the article with its own offsets; these rules
only choose which sentences, in document order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.intent import Intent
from bot.ranking.lexicon import ANAPHORIC_OPENERS, REASON_OPENERS
from core.records import Sentence
from core.text import fold

# Phrases inside a sentence that point back at the one before it.
_BACK_REFERENCES = (
    "gjort dette",
    "gjort det samme",
    "gjorde dette",
    "did this",
    "did the same",
    "done this",
    "done the same",
)


def overview_sentences(sentences: Sequence[Sentence], vectors: np.ndarray) -> list[int]:
    """The indexes of an overview's sentences, in document order: the headline, the lead
    (the first body sentence after it) and the main claim (the body sentence most similar
    to all the others: what the article keeps coming back to)."""
    chosen: list[int] = []
    headline = next((i for i, s in enumerate(sentences) if s.kind == "headline"), None)
    if headline is None:
        headline = next((i for i, s in enumerate(sentences) if s.kind != "section"), None)
    if headline is not None:
        chosen.append(headline)
    start = (headline or 0) + 1
    lead = next((i for i in range(start, len(sentences)) if sentences[i].kind == "body"), None)
    if lead is not None:
        chosen.append(lead)
    body = [i for i, s in enumerate(sentences) if s.kind == "body" and i != lead]
    if len(body) >= 2 and len(vectors) == len(sentences):
        sims = vectors[body] @ vectors[body].T
        centrality = (sims.sum(axis=1) - 1.0) / (len(body) - 1)
        chosen.append(body[int(np.argmax(centrality))])
    return sorted(set(chosen))


def dependent_neighbour(sentences: Sequence[Sentence], i: int, intent: Intent) -> int | None:
    """The neighbour sentence i depends on, or None: for a why-question, the next sentence
    when it opens with its reason ("Dette begrunner han med ...", "Ikke fordi ..."); for any
    question, the previous one when sentence i leans on it."""
    if intent.kind == "why" and i + 1 < len(sentences):
        after = sentences[i + 1]
        if after.kind == "body" and fold(after.text).lstrip("«\"' ").startswith(REASON_OPENERS):
            return i + 1
    if i > 0 and sentences[i].kind == "body" and sentences[i - 1].kind == "body":
        text = fold(sentences[i].text).lstrip("«\"' ")
        if text.startswith(ANAPHORIC_OPENERS) or any(b in text for b in _BACK_REFERENCES):
            return i - 1
    return None
