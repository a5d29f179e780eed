"""The lexical signal: BM25 over Norwegian-stemmed terms.

Hyphenated names are matched whole and by part ("Nord-Korea" -> nord, korea, nordkorea);
Norwegian and English stop words are dropped, so that an English question still matches the
names and numbers it shares with a Norwegian sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import snowballstemmer
from rank_bm25 import BM25Okapi

from bot.ranking.lexicon import EXONYMS, FUNCTION_WORDS, STOP_WORDS, cognate_key
from core.text import fold

# BM25 parameters chosen on NorQuAD train (sentence retrieval): weak length normalisation,
# since a sentence's length says little about how relevant it is.
BM25_K1 = 1.5
BM25_B = 0.1
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("norwegian")


def tokenize(text: str, expand: bool = False) -> list[str]:
    """Lower-cased, stemmed content terms of a text (hyphenated words also split).

    With `expand` (for questions), English exonyms add their Norwegian form."""
    text = fold(text)
    terms: list[str] = []
    tokens = _TOKEN.findall(text)
    if expand:
        tokens += [EXONYMS[t] for t in tokens if t in EXONYMS and EXONYMS[t] != t]
    for tok in tokens:
        parts = tok.split("-")
        words = [*parts, "".join(parts)] if len(parts) > 1 else parts
        terms.extend(w for w in words if w and w not in STOP_WORDS)
    return [_stem(t) for t in terms]


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # Snowball is pure Python; questions repeat the article's words, so stems are cached.
    return str(_stemmer().stemWord(word))


_FOLD = str.maketrans(
    {
        "æ": "ae",
        "ø": "o",
        "å": "a",
        "é": "e",
        "ü": "u",
        "ö": "o",
        "ä": "a",
        "w": "v",
        "y": "i",
        "j": "i",
        "c": "k",
        "q": "k",
        "z": "s",
    }
)


def cognate_keys(text: str) -> set[str]:
    """Five-letter spelling-folded prefixes of the content words of a text.

    They match across inflection and across Norwegian and English cognates ("analysis" ~
    "analyse", "regions" ~ "regionene", "Ukraine" ~ "Ukraina") where stems differ."""
    keys = set()
    for tok in _TOKEN.findall(fold(text)):
        for word in tok.split("-"):
            if len(word) >= 4 and word not in FUNCTION_WORDS and not word.isdigit():
                keys.add(cognate_key(word))
    return keys


class LexicalIndex:
    """BM25 over the sentences of one article."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._docs = [tokenize(t) for t in texts]
        # BM25Okapi divides by the corpus size: guard the empty corpus.
        self._bm25 = BM25Okapi(self._docs if any(self._docs) else [["_"]], k1=BM25_K1, b=BM25_B)
        self.size = len(texts)

    def idf(self, term: str) -> float:
        """The BM25 inverse document frequency of a stemmed term (0 when unseen)."""
        return float(max(self._bm25.idf.get(term, 0.0), 0.0))

    def terms(self, i: int) -> list[str]:
        """The stemmed terms of sentence i."""
        return self._docs[i]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every sentence for the (already tokenized) query."""
        if not query_terms or not self.size:
            return np.zeros(self.size, dtype=np.float64)
        return np.asarray(self._bm25.get_scores(list(query_terms)), dtype=np.float64)[: self.size]
