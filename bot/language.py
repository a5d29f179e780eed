"""Guessing a question's language from its words: nb, nn, en, or another ISO 639-1 code.

Questions are short, so a statistical detector has little to go on; marker words per
language (question words, function words) do better and cost microseconds.
"""

from __future__ import annotations

import re

from bot.ranking.lexicon import LANGUAGE_MARKERS, fold

_WORD = re.compile(r"[^\W\d_]+")


def detect_language(question: str) -> str:
    """The most likely language of a question; Norwegian (nb) when nothing decides."""
    words = [fold(w) for w in _WORD.findall(question)]
    if not words:
        return "nb"
    if re.search(r"[\u0600-\u06ff]", question):
        return "ar"
    if re.search(r"[\u0400-\u04ff]", question) and not re.search(r"[a-zA-Z]", question):
        return "ru"
    scores = {lang: float(sum(w in markers for w in words))
              for lang, markers in LANGUAGE_MARKERS.items()}
    if any(ch in fold(question) for ch in "æø"):
        scores["nb"] += 1
        scores["nn"] += 1
        scores["da"] += 0.5
    if any(ch in fold(question) for ch in "äö"):
        scores["sv"] += 1
        scores["de"] += 1
    if any(ch in fold(question) for ch in "üß"):
        scores["de"] += 2
    if any(ch in fold(question) for ch in "éèêàçùœ"):
        scores["fr"] += 1.5
    if any(ch in fold(question) for ch in "ñ¿¡íóú"):
        scores["es"] += 1.5
    # nb and da share most words; nn shares many with nb: prefer nb on ties
    order = ["nb", "en", "nn", "sv", "de", "da", "fr", "es"]
    best = max(order, key=lambda lang: (scores[lang], -order.index(lang)))
    if scores[best] == 0:
        return "nb"
    if best == "nn" and scores["nn"] <= scores["nb"] * 0.5:
        return "nb"
    return best
