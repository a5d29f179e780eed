"""What a question asks for, decided before ranking: an overview of the whole article, a
person named by a role ("Hvem er eksperten?"), a reason ("Hvorfor ...?"), or a fact.

The word lists and patterns are in `bot.ranking.lexicon`; this module only reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.ranking.lexicon import OVERVIEW_PATTERNS, ROLE_WORDS
from core.text import fold

_WORD = re.compile(r"[^\W\d_]+")
_WHO = re.compile(r"\b(?:hvem|kven|who|wer|wen|qui|vem|quién|hvad hedder)\b")
_WHY = re.compile(
    r"\b(?:hvorfor|kvifor|why|warum|pourquoi|varför|hvorfor|por qué|"
    r"hva er grunnen|what is the reason|hva skyldes|hvordan begrunner)\b"
)


@dataclass(frozen=True)
class Intent:
    """A question's intent: `kind` is "overview", "why" or "fact"; `role_words` are the
    words an article may use for a role the question names (empty when it names none)."""

    kind: str
    role_words: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _overview() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in OVERVIEW_PATTERNS))


def question_intent(question: str) -> Intent:
    """The intent of a (cleaned) question."""
    folded = fold(question)
    roles = (
        tuple(dict.fromkeys(w for word in _WORD.findall(folded) for w in ROLE_WORDS.get(word, ())))
        if _WHO.search(folded)
        else ()
    )
    if _overview().search(folded):
        return Intent("overview")
    if _WHY.search(folded):
        return Intent("why", roles)
    return Intent("fact", roles)


def retrieval_text(question: str, intent: Intent) -> str:
    """What retrieval should look for: the question, plus the words an article uses for a
    role it names, so that "Hvem er eksperten?" finds "analytikeren Sergej Radtsjenko"."""
    if not intent.role_words:
        return question
    return f"{question} {' '.join(intent.role_words)}"
