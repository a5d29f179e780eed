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

# "how" asking for a manner or a course of events, not "how many", "how long", "how old"
_HOW = re.compile(
    r"\b(?:hvordan|korleis|how|hur|wie|comment|como|cómo)\b"
    r"(?!\s+(?:mange|mye|mykje|lenge|gammel|gamal|stor|langt|ofte|høy|many|much|long|old|"
    r"big|far|often|tall|manga|mycket|lange|viele|viel|alt|alte))"
)


@dataclass(frozen=True)
class Intent:
    """A question's intent: `kind` is "overview", "why" or "fact"; `role_words` are the
    words an article may use for a role the question names (empty when it names none);
    `manner` marks a "how" question that asks for a way or a course of events."""

    kind: str
    role_words: tuple[str, ...] = ()
    manner: bool = False

    @property
    def wants_short_answer(self) -> bool:
        """Whether a name, date, number or place can answer it: not when the answer is a
        whole sentence (an overview, a reason, a way)."""
        return self.kind == "fact" and not self.manner


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
    return Intent("fact", roles, manner=bool(_HOW.search(folded)))


def retrieval_text(question: str, intent: Intent) -> str:
    """What retrieval should look for: the question, plus the words an article uses for a
    role it names, so that "Hvem er eksperten?" finds "analytikeren Sergej Radtsjenko"."""
    if not intent.role_words:
        return question
    return f"{question} {' '.join(intent.role_words)}"
