"""Guessing a question's language: nb, nn, en, sv, da, de, fr, es (ISO 639-1), or ar / ru
by script.

Two signals. Marker words per language (question and function words, `LANGUAGE_MARKERS`),
each weighted by 1 / the number of languages that list it (the opening word twice), decide
when one language leads.
Between the tied leaders, or when no marker word occurs, a statistical identifier decides:
lingua, restricted to the eight languages, in its low-accuracy mode (trigrams only: about
0.3 s and 20 MB on its first call, 0.2 ms a question after; the high-accuracy mode costs
6 s and 230 MB and was no better here, `scripts/language_id.py`). Lingua alone confuses bokmål
with Danish and Nynorsk on short questions, so a tie that includes bokmål stays bokmål unless
the marker words favour the other language. Lingua is imported on first use, not on import.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

from bot.ranking.lexicon import LANGUAGE_MARKERS
from core.text import fold

_WORD = re.compile(r"[^\W\d_]+")
# The languages told apart, in the order that breaks exact ties (the article's first).
LANGUAGES = ("nb", "en", "nn", "sv", "de", "da", "fr", "es")
_SHARED = Counter(w for markers in LANGUAGE_MARKERS.values() for w in markers)
# Letters that only some of the languages write, with how much each counts for them.
_LETTERS: tuple[tuple[str, dict[str, float]], ...] = (
    ("æø", {"nb": 0.5, "nn": 0.5, "da": 0.25}),
    ("äö", {"sv": 0.5, "de": 0.5}),
    ("üß", {"de": 1.0}),
    ("éèêàçùœ", {"fr": 0.75}),
    ("ñ¿¡áíóú", {"es": 0.75}),
)


def marker_scores(question: str) -> dict[str, float]:
    """Each language's marker-word score for a question (0 for a language no word marks)."""
    found = _WORD.findall(question)
    # the opening word (the question word, mostly) counts twice; a capitalised word further
    # on is a name's part ("El Alamein", "Den Haag"), not a marker
    words = [
        (fold(w), 2.0 if i == 0 else 1.0)
        for i, w in enumerate(found)
        if i == 0 or not w[0].isupper()
    ]
    scores = {
        lang: sum(weight / _SHARED[w] for w, weight in words if w in LANGUAGE_MARKERS[lang])
        for lang in LANGUAGES
    }
    folded = fold(question)
    for letters, weights in _LETTERS:
        if any(ch in folded for ch in letters):
            for lang, weight in weights.items():
                scores[lang] += weight
    return scores


@functools.cache
def _identifier() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    languages = (
        Language.BOKMAL,
        Language.NYNORSK,
        Language.ENGLISH,
        Language.SWEDISH,
        Language.DANISH,
        Language.GERMAN,
        Language.FRENCH,
        Language.SPANISH,
    )
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def identifier_scores(question: str) -> dict[str, float]:
    """Lingua's confidence (0..1) for each of the languages; all 0 when it cannot tell."""
    # lingua takes valid Unicode only: a lone surrogate (a broken paste) would raise
    text = question.encode("utf-8", "replace").decode("utf-8")
    values = _identifier().compute_language_confidence_values(text)
    found = {v.language.iso_code_639_1.name.lower(): float(v.value) for v in values}
    return {lang: found.get(lang, 0.0) for lang in LANGUAGES}


def needs_identifier(question: str) -> bool:
    """Whether the marker words leave the question to lingua (a tie, or no marker word in
    three words or more)."""
    scores = marker_scores(question)
    top = max(scores.values())
    leaders = sum(v == top for v in scores.values())
    return (top > 0 and leaders > 1) or (top == 0 and len(_WORD.findall(question)) >= 3)


def detect_language(question: str) -> str:
    """The most likely language of a question; Norwegian (nb) when nothing decides."""
    if not _WORD.search(question):
        return "nb"
    if re.search(r"[\u0600-\u06ff]", question):
        return "ar"
    if re.search(r"[\u0400-\u04ff]", question) and not re.search(r"[a-zA-Z]", question):
        return "ru"
    scores = marker_scores(question)
    best = max(LANGUAGES, key=lambda lang: (scores[lang], -LANGUAGES.index(lang)))
    leaders = [lang for lang in LANGUAGES if scores[lang] == scores[best]]
    if scores[best] > 0 and len(leaders) == 1:
        return best
    if scores[best] == 0 and len(_WORD.findall(question)) < 3:
        return "nb"  # a bare name or two ("Putin?"): too little for lingua; the article's
    ident = identifier_scores(question)
    if not any(ident.values()):
        return best if scores[best] > 0 else "nb"
    pick = max(leaders, key=lambda lang: (ident[lang], -LANGUAGES.index(lang)))
    if "nb" in leaders and pick in ("da", "nn"):
        return "nb"  # lingua's bokmål / Danish / Nynorsk split is unreliable on short text
    return pick
