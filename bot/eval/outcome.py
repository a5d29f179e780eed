"""Scoring one eval item: its gold sentences, its answer (or failure) scored, as an
`Outcome` that the run collects and the report writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.answer_records import Answer
from bot.eval.metrics import Scored, exact_match, short_right, token_f1
from bot.eval.qafile import QAItem, Span
from core.records import Sentence
from core.text import clean_text, fold_spaces

CONFIDENCE_SOURCE = "ranking[0].score"
_MARKER = re.compile(r"\s*\[\d+\]")


def stored_span(context: str, span: Span) -> tuple[int, int]:
    """A span's offsets in the stored (cleaned) text of its context: the eval file's offsets
    point into the raw context, the sentences' into the text as stored."""
    end = span.start + len(span.text)
    if clean_text(context) == context:
        return span.start, end
    return len(clean_text(context[: span.start])), len(clean_text(context[:end]))


def gold_ids(item: QAItem, sentences: Sequence[Sentence]) -> set[str]:
    """The sentences that hold one of the item's evidence strings (after NFC, case and
    whitespace folding) or overlap one of its answer spans."""
    gold: set[str] = set()
    evidence = [fold_spaces(e) for e in item.evidence if e.strip()]
    spans = [stored_span(item.context, sp) for sp in item.spans] if item.context is not None else []
    for s in sentences:
        text = fold_spaces(s.text)
        if any(e in text for e in evidence):
            gold.add(s.id)
        if any(s.start < end and start < s.end for start, end in spans):
            gold.add(s.id)
    return gold


def document_order(sentence_id: str) -> tuple[str, int]:
    """A sentence id's place in its article: "article:10" after "article:2" (sorting the ids
    as text would pair gold ids with the wrong gold sentences)."""
    article, _, n = sentence_id.rpartition(":")
    return article, int(n) if n.isdigit() else 0


@dataclass(frozen=True)
class Outcome:
    """One evaluated item: its answer record (or error), its score and its gold."""

    item: QAItem
    record: dict[str, Any]
    scored: Scored
    gold: tuple[str, ...]
    gold_texts: tuple[str, ...] = ()
    error: str | None = None


def error_record(item: QAItem, error: str, article: str | None) -> dict[str, Any]:
    """The prediction line of an item that failed: the answer record's fields, empty, and
    the error."""
    return {
        "id": item.id,
        "question": item.question,
        "answer": "",
        "short_answer": None,
        "abstained": False,
        "language": None,
        "article": article,
        "backend": None,
        "fallback_reason": None,
        "citations": [],
        "ranking": [],
        "timings_ms": {},
        "error": error,
    }


def score(
    item: QAItem,
    answer: Answer | None,
    gold: set[str],
    error: str | None,
    latency_ms: float | None,
    gold_texts: Sequence[str] = (),
    article: str | None = None,
) -> Outcome:
    """Score one answer (or failure) against its item's gold."""
    has_answers = item.answerable and bool(item.answers)
    if answer is None:
        message = error or "no answer"
        scored = Scored(
            answerable=item.answerable,
            error=True,
            gold=frozenset(gold),
            exact_match=0.0 if has_answers else None,
            f1=0.0 if has_answers else None,
            latency_ms=latency_ms,
        )
        return Outcome(
            item,
            error_record(item, message, article),
            scored,
            tuple(sorted(gold, key=document_order)),
            tuple(gold_texts),
            message,
        )
    if not answer.abstained and not answer.answer.strip():
        # an empty answer is a failure, not an answer (it must not help any metric)
        return score(
            item, None, gold, "the bot returned an empty answer", latency_ms, gold_texts, article
        )
    # the citation markers ("[1]") are how the answer points at its sources, not words of it
    predicted = _MARKER.sub("", answer.short_answer.text if answer.short_answer else answer.answer)
    em = f1 = None
    if has_answers:
        answered = not answer.abstained
        em = exact_match(predicted, item.answers) if answered else 0.0
        f1 = token_f1(predicted, item.answers) if answered else 0.0
    shown = answer.short_answer.text if answer.short_answer else None
    short_scores = (
        (
            exact_match(shown, item.answers),
            token_f1(shown, item.answers),
            short_right(shown, item.answers),
        )
        if shown is not None and has_answers
        else None
    )
    scored = Scored(
        answerable=item.answerable,
        abstained=answer.abstained,
        error=False,
        gold=frozenset(gold),
        ranking=tuple(r.sentence.id for r in answer.ranking),
        cited=tuple(c.sentence.id for c in answer.citations if c.support),
        exact_match=em,
        f1=f1,
        latency_ms=latency_ms,
        confidence=answer.ranking[0].score if answer.ranking else None,
        short_shown=shown is not None,
        short_scores=short_scores,
        short_confidence=answer.short_answer.confidence if answer.short_answer else None,
    )
    return Outcome(
        item, answer.to_record(), scored, tuple(sorted(gold, key=document_order)), tuple(gold_texts)
    )
