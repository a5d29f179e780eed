"""What the span head learns from: each training question's answer span in its gold
sentence, and the null option in the best sentence that does not hold it, both read through
the cross-encoder's graph as the query path reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.ranking.crossencoder import CrossEncoderScorer
from bot.ranking.reader import OUTSIDE, Reading
from bot.training.reranker.candidates import QuestionLists


@dataclass(frozen=True)
class SpanExample:
    """One (question, sentence) pair's hidden rows (float16) and its target positions: the
    answer's first and last token, or 0 and 0 (the null option) when the sentence holds no
    answer."""

    hidden: np.ndarray
    start: int
    end: int


def answer_in(sentence: str, answers: Sequence[str]) -> tuple[int, int] | None:
    """Where the first answer that the sentence holds verbatim stands in it."""
    for text in answers:
        at = sentence.find(text) if text else -1
        if at >= 0:
            return at, at + len(text)
    return None


def token_targets(reading: Reading, start: int, end: int) -> tuple[int, int] | None:
    """The positions of the first and last token covering characters [start, end) of the
    sentence (None when the pair was cut before the answer)."""
    inside = [(p, s) for p, s in enumerate(reading.spans) if s != OUTSIDE]
    first = next((p for p, (a, b) in inside if b > start), None)
    last = next((p for p, (a, b) in reversed(inside) if a < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def span_examples(
    lists: Sequence[QuestionLists],
    scorer: CrossEncoderScorer,
    negatives_from: int,
    progress: Callable[[int], None] = lambda n: None,
) -> list[SpanExample]:
    """For each question: its gold sentence with the answer's tokens as the target, and the
    first-stage's best sentence among the first `negatives_from` that holds no answer, with
    the null option as the target."""
    out: list[SpanExample] = []
    for n, q in enumerate(lists, start=1):
        own = q.own
        answers = [s.text for s in q.item.spans]
        positive = next(
            (
                (s, where)
                for s, g in zip(own.sentences, own.gold, strict=True)
                if g and (where := answer_in(s, answers)) is not None
            ),
            None,
        )
        if positive is None:
            continue
        negative = next(
            (s for s, g in zip(own.sentences[:negatives_from], own.gold, strict=False) if not g),
            None,
        )
        sentences = [positive[0]] + ([negative] if negative is not None else [])
        _, readings = scorer.score_rows(own.question, sentences)
        target = token_targets(readings[0], *positive[1])
        if target is not None:
            out.append(SpanExample(readings[0].hidden.astype(np.float16), *target))
        if negative is not None:
            out.append(SpanExample(readings[1].hidden.astype(np.float16), 0, 0))
        progress(n)
    return out


def save_examples(examples: Sequence[SpanExample], path: Path) -> None:
    """Keep the examples in one .npz (written atomically): a rerun reads them back."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        hidden=np.concatenate([e.hidden for e in examples]),
        lengths=np.array([e.hidden.shape[0] for e in examples]),
        targets=np.array([(e.start, e.end) for e in examples]).reshape(-1, 2),
    )
    tmp.replace(path)


def load_examples(path: Path) -> list[SpanExample]:
    """What `save_examples` wrote."""
    with np.load(path, allow_pickle=False) as data:
        hidden, lengths, targets = data["hidden"], data["lengths"], data["targets"]
    cuts = np.cumsum(lengths)[:-1]
    return [
        SpanExample(rows, int(s), int(e))
        for rows, (s, e) in zip(np.split(hidden, cuts), targets, strict=True)
    ]
