"""The span reader: the answer itself (a name, date, number or place) inside the sentence the
answer cites first, read off the cross-encoder's tokens.

The cross-encoder's graph also gives its hidden rows after its sixth layer
(`bot.ranking.crossencoder.TAP_OUTPUT`); a small head, four transformer layers and a linear
layer (`bot/data/reader.onnx`, fine-tuned on NorQuAD train's answer spans by
`articlebot train-reranker`), turns the cited pair's rows into start and end logits over its
tokens. Position 0 (<s>) is the null option, "no answer in this sentence", as extractive
readers are trained for SQuAD 2.0. The best span is then given a confidence by a logistic
model over how sure the head is and what the question asks, fitted on NorQuAD passages held
out from all fine-tuning; below the threshold chosen there for a stated precision there is no
short answer (null), rather than a guess. The span's characters come from the sentence
itself, so the short answer is verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.ranking.features import QuestionInfo
from bot.ranking.model import LinearModel
from bot.ranking.session import open_session
from core.errors import RerankerError
from core.files import check_regular

OUTSIDE = (-1, -1)  # the character span of a position outside the sentence
TRAILING = ",.;:!?"  # punctuation a span does not end with


@dataclass(frozen=True)
class Reading:
    """What the span reader reads of one (question, sentence) pair: the sentence, the
    cross-encoder's hidden rows at the tap (length, hidden) and each position's character
    span in the sentence (`OUTSIDE` for <s>, the question, the passage prefix and </s>)."""

    sentence: str
    hidden: np.ndarray
    spans: tuple[tuple[int, int], ...]


READER_FEATURES: tuple[str, ...] = (
    "span_margin",
    "span_prob",
    "null_prob",
    "span_tokens",
    "answerable",
    "asks_who",
    "asks_when",
    "asks_number",
    "asks_where",
    "asks_why",
)


@dataclass(frozen=True)
class Span:
    """The head's best span in a sentence: its characters there, how it scored against the
    null option, its probability and length in tokens."""

    start: int
    end: int
    margin: float  # start + end logit of the span minus those of the null option
    prob: float  # start probability times end probability
    null_prob: float  # the null option's start probability times its end probability
    tokens: int


def best_span(start: np.ndarray, end: np.ndarray, reading: Reading, max_tokens: int) -> Span | None:
    """The highest-scoring span of at most `max_tokens` tokens inside the sentence (None when
    the sentence has no token). Start and end logits are over the pair's positions."""
    inside = np.array([s != OUTSIDE for s in reading.spans], dtype=bool)
    if not inside.any():
        return None
    valid = inside.copy()
    valid[0] = True  # the null option
    ps, pe = _softmax(np.where(valid, start, -np.inf)), _softmax(np.where(valid, end, -np.inf))
    idx = np.flatnonzero(inside)
    s_log, e_log = start[idx], end[idx]
    table = s_log[:, None] + e_log[None, :]
    i, j = np.indices(table.shape)
    table = np.where((j >= i) & (j - i < max_tokens), table, -np.inf)
    a, b = np.unravel_index(int(np.argmax(table)), table.shape)
    first, last = int(idx[a]), int(idx[b])
    text_start, text_end = reading.spans[first][0], reading.spans[last][1]
    sentence = reading.sentence
    # a token's span holds the space before its word, and a word's token may hold the
    # comma or full stop after it ("2016,"): the answer is the words
    while text_start < text_end and sentence[text_start].isspace():
        text_start += 1
    while text_end > text_start and (
        sentence[text_end - 1].isspace() or sentence[text_end - 1] in TRAILING
    ):
        text_end -= 1
    if text_end <= text_start:
        return None
    return Span(
        start=text_start,
        end=text_end,
        margin=float(table[a, b] - (start[0] + end[0])),
        prob=float(ps[first] * pe[last]),
        null_prob=float(ps[0] * pe[0]),
        tokens=last - first + 1,
    )


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    out: np.ndarray = e / e.sum()
    return out


def span_features(span: Span, q: QuestionInfo, answerable: float) -> np.ndarray:
    """The confidence model's inputs (see `READER_FEATURES`)."""
    return np.array(
        [
            span.margin,
            span.prob,
            span.null_prob,
            float(np.log(span.tokens)),
            answerable,
            float(q.asks_who),
            float(q.asks_when),
            float(q.asks_number),
            float(q.asks_where),
            float(q.asks_why),
        ]
    )


@dataclass(frozen=True)
class ReaderAnswer:
    """A span the reader is confident enough to show: its characters in the sentence and the
    confidence model's probability that it is right."""

    start: int
    end: int
    confidence: float


class SpanReader:
    """The span head (onnxruntime) with its confidence model and threshold."""

    def __init__(self, onnx_path: Path, meta: dict[str, Any], threads: int = 2) -> None:
        self.max_tokens = int(meta["max_tokens"])
        self.confidence_model = LinearModel.from_json(meta["confidence"])
        if self.confidence_model.names != READER_FEATURES:
            raise RerankerError("the span reader's confidence model was fitted on other features")
        self.show_above = float(meta["show_above"])
        self.session = open_session(onnx_path, threads)

    def logits(self, reading: Reading) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits over the pair's positions."""
        hidden = reading.hidden[None, :, :].astype(np.float32)
        mask = np.ones(hidden.shape[:2], dtype=np.float32)
        start, end = self.session.run(["start", "end"], {"hidden": hidden, "mask": mask})
        return np.asarray(start[0], dtype=np.float64), np.asarray(end[0], dtype=np.float64)

    def span(self, reading: Reading) -> Span | None:
        """The best span, however unsure (for measuring the head itself)."""
        start, end = self.logits(reading)
        return best_span(start, end, reading, self.max_tokens)

    def confidence(self, span: Span, q: QuestionInfo, answerable: float) -> float:
        """The probability that `span` is the answer."""
        x = span_features(span, q, answerable)[None, :]
        return float(self.confidence_model.probability(x)[0])

    def read(self, reading: Reading, q: QuestionInfo, answerable: float) -> ReaderAnswer | None:
        """The short answer in the reading's sentence, or None below the threshold."""
        span = self.span(reading)
        if span is None:
            return None
        p = self.confidence(span, q, answerable)
        if p < self.show_above:
            return None
        return ReaderAnswer(span.start, span.end, p)


def load_reader(directory: Path, meta: dict[str, Any], threads: int = 2) -> SpanReader | None:
    """The span reader described in the reranker's metadata (None when it ships none)."""
    entry = meta.get("reader")
    if not isinstance(entry, dict):
        return None
    path = directory / str(entry["onnx"])
    check_regular(path, RerankerError, f"the span reader graph {path}")
    return SpanReader(path, entry, threads)
