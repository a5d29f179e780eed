"""Typed records of query time: ranked sentences, citations and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.records import Sentence

# The article id that means every indexed article (`--article all`, API `"article": "all"`).
ALL_ARTICLES = "all"


@dataclass(frozen=True)
class Ranked:
    """A sentence with the retriever's score for one question (higher is better)."""

    sentence: Sentence
    score: float
    features: tuple[float, ...] = ()

    def to_record(self, across: bool = False) -> dict[str, Any]:
        """The ranking entry as in the answer record; across articles it names its article."""
        record: dict[str, Any] = {"sentence_id": self.sentence.id, "score": round(self.score, 4)}
        if across:
            record["article"] = self.sentence.article_id
        return record


@dataclass(frozen=True)
class Citation:
    """A sentence quoted in an answer as `[n]`; `support` is False for "closest, not support"."""

    n: int
    sentence: Sentence
    score: float
    support: bool = True
    title: str | None = None  # the article's title, set when answering across articles

    def to_record(self, across: bool = False) -> dict[str, Any]:
        """The citation as in the answer record; across articles it also names the article
        (`article`, `title`) that the offsets are into."""
        s = self.sentence
        record: dict[str, Any] = {
            "n": self.n,
            "sentence_id": s.id,
            "text": s.text,
            "start": s.start,
            "end": s.end,
            "score": round(self.score, 4),
            "support": self.support,
        }
        if across:
            record["article"] = s.article_id
            record["title"] = self.title
        return record


@dataclass(frozen=True)
class ShortAnswer:
    """The answer itself (a name, date, number or place) inside a cited sentence: verbatim,
    `article_text[start:end] == text`, with the confidence model's probability."""

    text: str
    start: int
    end: int
    confidence: float
    sentence_id: str

    @classmethod
    def inside(cls, sentence: Sentence, text: str, offset: int, confidence: float) -> ShortAnswer:
        """The span `text` found at `offset` in `sentence`, placed in the article."""
        start = sentence.start + offset
        return cls(text, start, start + len(text), confidence, sentence.id)

    def to_record(self) -> dict[str, Any]:
        """The short answer as in the answer record."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
            "sentence_id": self.sentence_id,
        }


@dataclass(frozen=True)
class Answer:
    """An answer with its citations: what `ask --json` prints and eval scores."""

    question: str
    answer: str
    language: str
    article: str
    citations: tuple[Citation, ...]
    ranking: tuple[Ranked, ...]
    abstained: bool = False
    short_answer: ShortAnswer | None = None
    backend: str = "extractive"
    fallback_reason: str | None = None
    id: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def across(self) -> bool:
        """True for an answer across every indexed article."""
        return self.article == ALL_ARTICLES

    def to_record(self) -> dict[str, Any]:
        """The answer record (docs/contracts.md): what `ask --json` prints."""
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer.to_record() if self.short_answer else None,
            "abstained": self.abstained,
            "language": self.language,
            "article": self.article,
            "backend": self.backend,
            "fallback_reason": self.fallback_reason,
            "citations": [c.to_record(self.across) for c in self.citations],
            "ranking": [r.to_record(self.across) for r in self.ranking],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
