"""The short answer: the likely answer span inside the first cited sentence, when it is
likely right.

Only for questions whose expected answer has a recognisable shape (how many / how much ->
a number with its unit; when -> a date, month or year; who / what is it called -> a name not
in the question; where -> a place name after a preposition). The span found is then given a
confidence by a small logistic model (`bot/data/short_answer.json`, trained on NorQuAD train
by `articlebot train-short-answer`) over what the span is against what the question asks,
the ranker's top score and margin, how many spans of its kind the sentence holds, its length,
whether its words are the question's, and how far it stands from the question's words in the
sentence. Below the threshold chosen on train (precision 0.9 there) there is no short answer
(null), rather than a guess.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from bot.ranking.features import QuestionInfo
from bot.ranking.lexicon import (
    FUNCTION_WORDS,
    MONTH_NAMES,
    NUMBER_WORDS,
    PLACE_PREPOSITIONS,
    name_key,
)
from bot.ranking.model import LinearModel
from core.errors import ConfigError
from core.files import MODEL_FILE_LIMIT, read_text_bounded
from core.text import fold

_MONTH = "(?:" + "|".join(MONTH_NAMES) + ")"
_ONE_DATE = (
    rf"(?:\d{{1,2}}\.\s*{_MONTH}(?:\s+\d{{4}})?|{_MONTH}\s+\d{{4}}|"
    rf"\d{{4}}(?:-tallet)?|\d{{1,2}}\.\s*\d{{1,2}}\.\s*\d{{2,4}})"
)
# a date, or a span of two ("1939–1945", "fra 1815 til 1918"), which is then the answer
_DATE = re.compile(
    rf"\b(?:(?:fra|from)\s+{_ONE_DATE}\s+(?:til|to|until)\s+{_ONE_DATE}|"
    rf"{_ONE_DATE}(?:\s*[–-]\s*{_ONE_DATE})?)\b",
    re.IGNORECASE,
)
_UNITS = (
    r"(?:%|prosent|kroner|kr|millioner|milliarder|mill\.|mrd\.|år|måneder|dager|timer|"
    r"minutter|meter|km|kilometer|mm|millimeter|cm|kilo|kg|tonn|personer|mennesker|"
    r"ganger|grader|stemmer|seter|mål|poeng)"
)
_NUMBER = re.compile(
    r"\b(?:ca\.\s*|cirka\s+|over\s+|under\s+|nesten\s+)?\d+(?:[\s.,]\d{3})*(?:[.,]\d+)?"
    rf"(?:\s*{_UNITS}\b)?",
    re.IGNORECASE,
)
# a number word, with its unit when one follows ("to millioner", not "fem ikke")
_WORD_NUMBER = re.compile(
    r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b" rf"(?:\s+{_UNITS}\b)?", re.IGNORECASE
)
_ASKS_YEAR = re.compile(r"\b(?:hvilket år|kva år|what year|which year)\b", re.IGNORECASE)
_BARE_YEAR = re.compile(r"^\d{4}$")
# "Hvem er Sergej Radtsjenko?" asks for a description, not a name: no short answer.
_WHO_IS_NAME = re.compile(r"^\s*(?i:hvem|kven|who)\s+(?i:er|var|is|was)\s+[A-ZÆØÅ]")
# A run of capitalised words, with a particle only between two of them ("Jakob av England").
_NAME_RUN = re.compile(
    r"(?<![\w-])(?:[A-ZÆØÅ][\wæøåé'-]+"
    r"(?:(?:\s+(?:av|von|van|de|der|den|la|le))?\s+[A-ZÆØÅ][\wæøåé'-]+)*)"
)


_PLACE = re.compile(
    r"(?<![\w-])(?i:" + "|".join(PLACE_PREPOSITIONS) + r")\s+(" + _NAME_RUN.pattern + ")"
)
_YEAR = re.compile(r"^(?:1[0-9]{3}|20[0-9]{2})$")
_WORDS = re.compile(r"[\w-]+")
KINDS = ("date", "number", "word_number", "name", "place")


@dataclass(frozen=True)
class Candidate:
    """A short-answer span in a sentence: its text, kind, offset and how many spans of its
    kind the sentence holds."""

    text: str
    kind: str
    start: int
    rivals: int


def _names(q: QuestionInfo, sentence: str) -> list[re.Match[str]]:
    out = []
    for m in _NAME_RUN.finditer(sentence):
        if m.start() == 0 and " " not in m.group(0):
            continue  # a lone capitalised first word is just the sentence start
        if all(name_key(w) in q.names for w in m.group(0).split()):
            continue
        if fold(m.group(0)) in FUNCTION_WORDS:
            continue  # "Den", "Under": a capitalised function word, not a name
        out.append(m)
    return out


def _stems(text: str) -> set[str]:
    return {fold(w)[:5] for w in _WORDS.findall(text) if len(w) >= 4}


def _distance(sentence: str, start: int, end: int, stems: set[str]) -> int:
    """Words between the span and the nearest word the question shares (30: none)."""
    before = _WORDS.findall(sentence[:start])
    after = _WORDS.findall(sentence[end:])
    near = [len(before) - i for i, w in enumerate(before) if fold(w)[:5] in stems]
    near += [i + 1 for i, w in enumerate(after) if fold(w)[:5] in stems]
    return min(near) if near else 30


def _pick(
    matches: Sequence[re.Match[str]], sentence: str, stems: set[str], kind: str, group: int = 0
) -> Candidate:
    """The match nearest the question's words (the first, and for names the longest, on
    ties)."""
    best = min(
        matches,
        key=lambda m: (
            _distance(sentence, m.start(group), m.end(group), stems),
            -len(m.group(group).split()) if kind == "name" else 0,
        ),
    )
    raw = best.group(group)
    start = best.start(group) + len(raw) - len(raw.lstrip())
    return Candidate(raw.strip(), kind, start, len(matches))


def candidate(q: QuestionInfo, sentence: str, question: str = "") -> Candidate | None:
    """The span the question's shape asks for in `sentence`, or None when there is none."""
    stems = _stems(question)
    if q.asks_when:
        dates = list(_DATE.finditer(sentence))
        if _ASKS_YEAR.search(question):  # a year, when the sentence has one
            dates = [m for m in dates if _BARE_YEAR.match(m.group(0))] or dates
        if dates:
            return _pick(dates, sentence, stems, "date")
    if q.asks_number:
        numbers = [m for m in _NUMBER.finditer(sentence) if m.group(0).strip() not in q.numbers]
        if numbers:
            return _pick(numbers, sentence, stems, "number")
        words = list(_WORD_NUMBER.finditer(sentence))
        if words:
            return _pick(words, sentence, stems, "word_number")
    if q.asks_who and not _WHO_IS_NAME.match(question):
        names = _names(q, sentence)
        if names:
            return _pick(names, sentence, stems, "name")
    if q.asks_where and not q.asks_number:
        places = [
            m
            for m in _PLACE.finditer(sentence)
            if not all(name_key(w) in q.names for w in m.group(1).split())
            and fold(m.group(1)) not in FUNCTION_WORDS
        ]
        if places:
            return _pick(places, sentence, stems, "place", group=1)
    return None


def candidate_features(
    q: QuestionInfo,
    sentence: str,
    question: str,
    c: Candidate,
    scores: Sequence[float],
    answerable: float = 1.0,
) -> np.ndarray:
    """The confidence model's features of a candidate (order: `FEATURES`); `scores` are the
    ranker's, best first, and `answerable` the abstention model's probability."""
    top = float(scores[0]) if scores else 0.0
    margin = float(scores[0] - scores[1]) if len(scores) > 1 else 0.0
    span_words = [fold(w) for w in _WORDS.findall(c.text)]
    q_words = {fold(w) for w in _WORDS.findall(question)}
    q_stems = _stems(question)
    before = _WORDS.findall(sentence[: c.start])
    after = _WORDS.findall(sentence[c.start + len(c.text) :])
    distance = _distance(sentence, c.start, c.start + len(c.text), q_stems)
    near = distance < 30
    preceding = fold(before[-1]) if before else ""
    sentence_stems = {fold(w)[:5] for w in _WORDS.findall(sentence)}
    cover = len(q_stems & sentence_stems) / len(q_stems) if q_stems else 0.0
    unit = c.kind in ("number", "word_number") and any(
        not w.isdigit() and w[:5] in q_stems for w in span_words
    )
    row = [
        *(float(c.kind == k) for k in KINDS),
        top,
        margin,
        math.log1p(c.rivals - 1),
        float(len(span_words)),
        sum(w in q_words for w in span_words) / max(len(span_words), 1),
        math.log1p(distance),
        float(near),
        math.log1p(len(before) + len(after)),
        float(c.kind == "number" and bool(_YEAR.match(c.text))),
        float(c.kind == "name" and preceding in PLACE_PREPOSITIONS),
        float(c.start == 0),
        float(q.asks_who),
        float(q.asks_when),
        float(q.asks_number),
        float(q.asks_where),
        answerable,
        cover,
        float(unit),
    ]
    return np.asarray(row, dtype=np.float64)


FEATURES: tuple[str, ...] = (
    *(f"kind_{k}" for k in KINDS),
    "top_score",
    "margin",
    "log_rivals",
    "span_words",
    "span_in_question",
    "log_distance",
    "question_word_in_sentence",
    "log_sentence_words",
    "year_for_amount",
    "name_after_place_preposition",
    "at_sentence_start",
    "asks_who",
    "asks_when",
    "asks_number",
    "asks_where",
    "answerable",
    "question_cover",
    "unit_in_question",
)


@dataclass(frozen=True)
class ShortAnswerModel:
    """The confidence model and the probability a short answer must reach to be shown."""

    model: LinearModel
    show_above: float

    def to_json(self) -> dict[str, object]:
        """The model file as JSON-ready data."""
        return {"model": self.model.to_json(), "show_above": self.show_above}


def read_model(path: Path | None = None) -> ShortAnswerModel | None:
    """The confidence model (default: the one shipped beside the ranker), or None when
    there is no file: then no short answer is shown."""
    if path is None:
        ref = resources.files("bot") / "data" / "short_answer.json"
        if not ref.is_file():
            return None
        data = json.loads(ref.read_text(encoding="utf-8"))
    else:
        data = json.loads(read_text_bounded(path, MODEL_FILE_LIMIT, ConfigError))
    model = LinearModel.from_json(data["model"])
    if model.names != FEATURES:
        return None  # trained on other features: showing nothing beats guessing
    return ShortAnswerModel(model, float(data["show_above"]))


@functools.cache
def _shipped() -> ShortAnswerModel | None:
    return read_model()


def confidence(
    q: QuestionInfo,
    sentence: str,
    question: str,
    c: Candidate,
    scores: Sequence[float],
    answerable: float = 1.0,
    model: ShortAnswerModel | None = None,
) -> float:
    """The probability that `c` is the answer (0 without a model)."""
    model = model or _shipped()
    if model is None:
        return 0.0
    x = candidate_features(q, sentence, question, c, scores, answerable)
    return float(model.model.probability(x[None, :])[0])


@dataclass(frozen=True)
class Found:
    """A short answer in its sentence: the span's text, where it starts in the sentence, and
    the confidence model's probability that it is right."""

    text: str
    offset: int
    confidence: float


def short_answer(
    q: QuestionInfo,
    sentence: str,
    question: str = "",
    scores: Sequence[float] = (),
    answerable: float = 1.0,
    model: ShortAnswerModel | None = None,
) -> Found | None:
    """A short answer span from `sentence` (the first cited) for the question, or None when
    unsure. `scores` are the ranker's scores, best first (at least the top two), and
    `answerable` the abstention model's probability that the article answers."""
    c = candidate(q, sentence, question)
    if c is None:
        return None
    chosen = model or _shipped()
    if chosen is None:
        return None
    p = confidence(q, sentence, question, c, scores, answerable, chosen)
    if p < chosen.show_above:
        return None
    return Found(c.text, c.start, p)
