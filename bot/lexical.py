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

# Only question words and English function words are dropped: Norwegian function words
# ("ikke", "mot", "etter") help at sentence level, where BM25's IDF already weighs them.
# Measured on NorQuAD train: dropping a full Norwegian stop list cost 2-3 points of hit@1.
STOP_WORDS = frozenset("""
    hva hvem hvor hvordan hvorfor hvilke hvilken hvilket når kva kven kvar korleis kvifor
    the a an of to in on for is are was were be been being what who whom where when why how
    which whose does do did has have had and or not it its this that these those with from
    by as at about according into than then there their they them he she his her him you we
    """.split())
# Function words of both languages: never evidence of a shared topic (for cognates).
FUNCTION_WORDS = frozenset("""
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
# BM25 parameters chosen on NorQuAD train (sentence retrieval): weak length normalisation,
# since a sentence's length says little about how relevant it is.
BM25_K1 = 1.5
BM25_B = 0.1
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")

# English names of places, peoples and bodies whose Norwegian form differs, so that an
# English question still shares names with a Norwegian sentence. Deliberately only names:
# common words are left to the dense model and the cognate feature, not to a glossary.
EXONYMS: dict[str, str] = {
    "russia": "russland", "russian": "russisk", "russians": "russere", "china": "kina",
    "chinese": "kinesisk", "north": "nord", "south": "sør", "korea": "korea",
    "korean": "koreansk", "ukraine": "ukraina", "ukrainian": "ukrainsk", "norway": "norge",
    "norwegian": "norsk", "sweden": "sverige", "swedish": "svensk", "denmark": "danmark",
    "danish": "dansk", "finland": "finland", "germany": "tyskland", "german": "tysk",
    "france": "frankrike", "french": "fransk", "britain": "storbritannia",
    "british": "britisk", "england": "england", "english": "engelsk", "spain": "spania",
    "italy": "italia", "poland": "polen", "greece": "hellas", "netherlands": "nederland",
    "belgium": "belgia", "switzerland": "sveits", "austria": "østerrike", "iceland": "island",
    "america": "amerika", "american": "amerikansk", "japan": "japan",
    "japanese": "japansk", "iran": "iran", "iranian": "iransk", "syria": "syria",
    "syrian": "syrisk", "iraq": "irak", "turkey": "tyrkia", "egypt": "egypt",
    "israel": "israel", "palestine": "palestina", "india": "india", "brazil": "brasil",
    "mexico": "mexico", "canada": "canada", "africa": "afrika", "europe": "europa",
    "european": "europeisk", "asia": "asia", "arctic": "arktis", "moscow": "moskva",
    "kyiv": "kyiv", "kiev": "kiev", "beijing": "beijing", "copenhagen": "københavn",
    "gothenburg": "göteborg", "un": "fn", "nato": "nato", "eu": "eu",
    "kremlin": "kreml", "crimea": "krim", "arab": "arabisk", "nordic": "nordisk",
}


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("norwegian")


def tokenize(text: str, expand: bool = False) -> list[str]:
    """Lower-cased, stemmed content terms of a text (hyphenated words also split).

    With `expand` (for questions), English exonyms add their Norwegian form."""
    text = unicodedata.normalize("NFC", text).lower()
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


_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u", "ö": "o",
                       "ä": "a", "w": "v", "y": "i", "j": "i", "c": "k", "q": "k", "z": "s"})


def cognate_keys(text: str) -> set[str]:
    """Five-letter spelling-folded prefixes of the content words of a text.

    They match across inflection and across Norwegian and English cognates ("analysis" ~
    "analyse", "regions" ~ "regionene", "Ukraine" ~ "Ukraina") where stems differ."""
    keys = set()
    for tok in _TOKEN.findall(unicodedata.normalize("NFC", text).lower()):
        for word in tok.split("-"):
            if len(word) >= 4 and word not in FUNCTION_WORDS and not word.isdigit():
                folded = word.replace("tsj", "ch").replace("sj", "sh").translate(_FOLD)
                keys.add(folded[:5])
    return keys


class LexicalIndex:
    """BM25 over the sentences of one article."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._docs = [tokenize(t) for t in texts]
        # BM25Okapi divides by the corpus size: guard the empty corpus.
        self._bm25 = BM25Okapi(self._docs if any(self._docs) else [["_"]], k1=BM25_K1,
                               b=BM25_B)
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
        return np.asarray(self._bm25.get_scores(list(query_terms)), dtype=np.float64)[:self.size]
