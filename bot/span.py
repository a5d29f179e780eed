"""The short answer: the likely answer span inside the first cited sentence.

Only for questions whose expected answer has a recognisable shape (how many / how much ->
a number with its unit; when -> a date, month or year; who -> a name not in the question).
Otherwise there is no short answer (null), rather than a guess.
"""

from __future__ import annotations

import re

from bot.ranking.features import QuestionInfo
from bot.ranking.lexicon import MONTH_NAMES, NUMBER_WORDS, name_key

_MONTH = "(?:" + "|".join(MONTH_NAMES) + ")"
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\.\s*{_MONTH}(?:\s+\d{{4}})?|{_MONTH}\s+\d{{4}}|"
    rf"\d{{4}}(?:-tallet)?|\d{{1,2}}\.\s*\d{{1,2}}\.\s*\d{{2,4}})\b",
    re.IGNORECASE)
_NUMBER = re.compile(
    r"\b(?:ca\.\s*|cirka\s+|over\s+|under\s+|nesten\s+)?\d+(?:[\s.,]\d{3})*(?:[.,]\d+)?"
    r"(?:\s*(?:%|prosent|kroner|kr|millioner|milliarder|mill\.|mrd\.|år|måneder|dager|timer|"
    r"minutter|meter|km|kilometer|mm|millimeter|cm|kilo|kg|tonn|personer|mennesker|"
    r"ganger|grader|stemmer|seter|mål|poeng)\b)?", re.IGNORECASE)
_WORD_NUMBER = re.compile(
    r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b"
    r"(?:\s+\w+)?", re.IGNORECASE)
# "Hvem er Sergej Radtsjenko?" asks for a description, not a name: no short answer.
_WHO_IS_NAME = re.compile(r"^\s*(?i:hvem|kven|who)\s+(?i:er|var|is|was)\s+[A-ZÆØÅ]")
_NAME_RUN = re.compile(
    r"(?<![\w-])(?:[A-ZÆØÅ][\wæøåé'-]+(?:\s+(?:av|von|van|de|der|den|la|le)\s+)?"
    r"(?:\s+[A-ZÆØÅ][\wæøåé'-]+)*)")


def short_answer(q: QuestionInfo, sentence: str, question: str = "") -> str | None:
    """A short answer span from `sentence` for the question, or None when unsure."""
    if q.asks_when:
        m = _DATE.search(sentence)
        if m:
            return m.group(0).strip()
    if q.asks_number:
        for m in _NUMBER.finditer(sentence):
            if m.group(0).strip() not in q.numbers:
                return m.group(0).strip()
        m = _WORD_NUMBER.search(sentence)
        if m:
            return m.group(0).strip()
    if q.asks_who and not _WHO_IS_NAME.match(question):
        best: str | None = None
        for m in _NAME_RUN.finditer(sentence):
            if m.start() == 0 and " " not in m.group(0):
                continue  # a lone capitalised first word is just the sentence start
            words = m.group(0).split()
            if all(name_key(w) in q.names for w in words):
                continue
            if best is None or len(words) > len(best.split()):
                best = m.group(0)
        return best
    return None
