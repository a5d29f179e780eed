"""The lexical signal: BM25 over Norwegian-stemmed terms.

Hyphenated names are matched whole and by part ("Nord-Korea" -> nord, korea, nordkorea);
Norwegian and English stop words are dropped, so that an English question still matches the
names and numbers it shares with a Norwegian sentence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import snowballstemmer
from rank_bm25 import BM25Okapi

STOP_WORDS = frozenset("""
    og i jeg det at en et den til er som på de med han av ikke der så var meg seg men ett
    har om vi min mitt ha hadde hun nå over da ved fra du ut sin dem oss opp man kan hans
    hvor eller hva skal selv sjøl her alle vil bli ble blitt kunne inn når være kom noen noe
    ville dere deres kun ja etter ned skulle denne for deg si sine sitt mot å meget hvorfor
    dette disse uten hvordan ingen din ditt blir samme hvilken hvilke sånn inni mellom vår
    hver hvem vors dei ho eg kva kven kvar korleis kvifor ikkje også seg sitt the a an of to
    in on for is are was were be been being what who whom where when why how which whose
    does do did has have had and or not it its this that these those with from by as at
    about according into than then there their they them he she his her him i you we
    """.split())
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("norwegian")


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content terms of a text (hyphenated words also split)."""
    text = unicodedata.normalize("NFC", text).lower()
    terms: list[str] = []
    for tok in _TOKEN.findall(text):
        parts = tok.split("-")
        words = [*parts, "".join(parts)] if len(parts) > 1 else parts
        terms.extend(w for w in words if w and w not in STOP_WORDS)
    stemmer = _stemmer()
    return [stemmer.stemWord(t) for t in terms]


class LexicalIndex:
    """BM25 over the sentences of one article."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._docs = [tokenize(t) for t in texts]
        # BM25Okapi divides by the corpus size: guard the empty corpus.
        self._bm25 = BM25Okapi(self._docs if any(self._docs) else [["_"]])
        self.size = len(texts)

    def terms(self, i: int) -> list[str]:
        """The stemmed terms of sentence i."""
        return self._docs[i]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every sentence for the (already tokenized) query."""
        if not query_terms or not self.size:
            return np.zeros(self.size, dtype=np.float64)
        return np.asarray(self._bm25.get_scores(list(query_terms)), dtype=np.float64)[:self.size]
