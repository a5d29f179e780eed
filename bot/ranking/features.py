"""Features of (question, sentence) pairs for the learned ranker and the abstention model.

Each sentence of an article gets a row of cheap signals: dense and BM25 scores with their
within-article z-scores, ranks and margins; overlap of stemmed terms, names and numbers;
question type (who/when/how many) against what the sentence holds; kind, position, length;
and the neighbours' scores, which carry context without diluting the sentence's own embedding.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.ranking.lexical import LexicalIndex, cognate_keys, tokenize
from bot.ranking.lexicon import (
    EXONYMS,
    GERMAN_DETERMINERS,
    GERMAN_NOUN_SUFFIXES,
    GERMAN_OPENERS,
    MEASURE_WORDS,
    OTHER_QUESTION_WORDS,
    TIME_WORDS,
    name_key,
)
from core.records import Sentence
from core.text import fold

FEATURE_NAMES: tuple[str, ...] = (
    "dense",
    "dense_z",
    "dense_rank_recip",
    "dense_margin",
    "bm25",
    "bm25_z",
    "bm25_rel",
    "bm25_rank_recip",
    "term_overlap",
    "term_overlap_any",
    "name_overlap",
    "number_overlap",
    "asks_number_has_digit",
    "asks_who_has_name",
    "asks_when_has_time",
    "asks_where_has_place_word",
    "position",
    "is_body",
    "is_heading",
    "log_len",
    "prev_dense_z",
    "next_dense_z",
    "prev_bm25_rel",
    "next_bm25_rel",
    "dense_x_bm25",
    "fused_z",
    "idf_overlap",
    "cognate_overlap",
    "cognate_z",
    "all_names",
    "is_teaser",
    "new_terms",
    "asks_why_has_cause",
    "has_new_name",
    "has_new_number",
    "bigram_overlap",
)

_NAME = re.compile(r"\b[A-ZÆØÅÄÖÜ][\wæøåäöü]+(?:-[A-ZÆØÅ]?[\wæøåäöü]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_YEAR = re.compile(r"\b1[0-9]{3}\b|\b20[0-9]{2}\b|\b[0-9]{2,4}-tallet\b")


def _other(kind: str) -> str:
    return "|".join(OTHER_QUESTION_WORDS[kind])


_ASKS_NUMBER = re.compile(
    rf"\b((?:hvor|kor|how) {MEASURE_WORDS}|hvilket år|what year|antall|prosent|"
    rf"{_other('number')})\b",
    re.IGNORECASE,
)
# Who, and what-is-it-called: both want a name for an answer.
_ASKS_WHO = re.compile(
    r"\b(hvem|kven|who|whom|hvilken person|hva heter|hva het|hva kalles|hva ble \w+ kalt|"
    r"hvilket navn|what is the name|what was the name|what's the name|what is \w+ called|"
    r"(?:hvilke[nt]?|which) (?:lag|parti|klubb|selskap|firma|avis|band|organisasjon|"
    rf"team|party|club|company|newspaper|organi[sz]ation)|{_other('who')})\b",
    re.IGNORECASE,
)
_ASKS_WHEN = re.compile(
    r"\b(når|kva tid|when|hvilket år|what year|hvilken dato|"
    rf"hvilken måned|{_other('when')})\b",
    re.IGNORECASE,
)
_ASKS_WHERE = re.compile(
    rf"\b((?:hvor|kvar|where)\b(?! {MEASURE_WORDS}\b)|{_other('where')}|"
    r"(?:hvilke[nt]?|which|what) (?:by|land|"
    r"kommune|fylke|sted|område|region|bydel|stat|øy|city|country|town|place|state|island)\b)",
    re.IGNORECASE,
)
_PLACE_WORDS = re.compile(r"\b(i|på|ved|fra|til)\s+[A-ZÆØÅ]")
_ASKS_WHY = re.compile(
    r"\b(hvorfor|kvifor|why|hva er grunnen|what is the reason|"
    rf"hva skyldes|hva førte til|{_other('why')})\b",
    re.IGNORECASE,
)
_CAUSE = re.compile(
    r"\b(fordi|derfor|på grunn av|grunnet|som følge av|skyldes|ettersom|"
    r"siden|slik at|førte til|because|due to)\b",
    re.IGNORECASE,
)


def _german_noun(text: str, m: re.Match[str]) -> bool:
    """Whether a capitalised word of a German question is a common noun (see lexicon)."""
    before = text[: m.start()].split()
    return (bool(before) and fold(before[-1]) in GERMAN_DETERMINERS) or fold(m.group(0)).endswith(
        GERMAN_NOUN_SUFFIXES
    )


def _names(text: str, skip_first: bool, question: bool = False) -> set[str]:
    found = set()
    words = text.split(maxsplit=1)
    german = question and bool(words) and fold(words[0]) in GERMAN_OPENERS
    for m in _NAME.finditer(text):
        if skip_first and m.start() == 0:
            continue
        if german and _german_noun(text, m):
            continue
        for part in m.group(0).split("-"):
            if len(part) > 1:
                # an English exonym is matched by its Norwegian form (Russia -> Russland)
                found.add(name_key(EXONYMS.get(fold(part), part)))
    return found


def _bigrams(terms: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(itertools.pairwise(terms))


@dataclass(frozen=True)
class QuestionInfo:
    """What is extracted from a question once, before scoring its sentences."""

    terms: tuple[str, ...]
    names: frozenset[str]
    numbers: frozenset[str]
    cognates: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    asks_number: bool
    asks_who: bool
    asks_when: bool
    asks_where: bool
    asks_why: bool


def question_info(question: str) -> QuestionInfo:
    """Parse a question into the parts the features use."""
    return QuestionInfo(
        terms=tuple(tokenize(question, expand=True)),
        names=frozenset(_names(question, skip_first=True, question=True)),
        numbers=frozenset(_NUMBER.findall(question)),
        cognates=frozenset(cognate_keys(question)),
        bigrams=_bigrams(tokenize(question)),
        asks_number=bool(_ASKS_NUMBER.search(question)),
        asks_who=bool(_ASKS_WHO.search(question)),
        asks_when=bool(_ASKS_WHEN.search(question)),
        asks_where=bool(_ASKS_WHERE.search(question)),
        asks_why=bool(_ASKS_WHY.search(question)),
    )


@dataclass(frozen=True)
class SentenceInfo:
    """What is extracted from a sentence once, at load time."""

    terms: frozenset[str]
    names: frozenset[str]
    numbers: frozenset[str]
    cognates: frozenset[str]
    has_digit: bool
    has_name: bool
    has_time: bool
    has_place: bool
    has_cause: bool
    mid_names: frozenset[str]
    bigrams: frozenset[tuple[str, str]]


def sentence_info(sentence: Sentence, terms: Sequence[str]) -> SentenceInfo:
    """Parse a sentence into the parts the features use."""
    text = sentence.text
    lower = fold(text)
    names = frozenset(_names(text, skip_first=True))
    return SentenceInfo(
        terms=frozenset(terms),
        names=frozenset(_names(text, skip_first=False)),
        numbers=frozenset(_NUMBER.findall(text)),
        cognates=frozenset(cognate_keys(text)),
        has_digit=any(ch.isdigit() for ch in text),
        has_name=bool(names),
        has_time=bool(_YEAR.search(text)) or any(m in lower for m in TIME_WORDS),
        has_place=bool(_PLACE_WORDS.search(text)),
        has_cause=bool(_CAUSE.search(text)),
        mid_names=names,
        bigrams=_bigrams(terms),
    )


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - float(x.mean())) / sd if sd > 1e-9 else np.zeros_like(x)


def _rank_recip(x: np.ndarray) -> np.ndarray:
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x))
    return 1.0 / (1.0 + ranks)


def _shift(x: np.ndarray, by: int) -> np.ndarray:
    out = np.full_like(x, x.min() if len(x) else 0.0)
    if by > 0:
        out[by:] = x[:-by]
    else:
        out[:by] = x[-by:]
    return out


def feature_matrix(
    q: QuestionInfo,
    sentences: Sequence[Sentence],
    infos: Sequence[SentenceInfo],
    dense: np.ndarray,
    bm25: np.ndarray,
    lexical: LexicalIndex,
) -> np.ndarray:
    """The (n_sentences, len(FEATURE_NAMES)) feature matrix for one question."""
    n = len(sentences)
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    dense = dense.astype(np.float64)
    bm25 = bm25.astype(np.float64)
    dense_z, bm25_z = _z(dense), _z(bm25)
    bm25_max = float(bm25.max())
    bm25_rel = bm25 / bm25_max if bm25_max > 0 else np.zeros(n)
    qterms = set(q.terms)
    idf = {t: lexical.idf(t) for t in qterms}
    idf_total = sum(idf.values())
    rows = np.zeros((n, len(FEATURE_NAMES)))
    rows[:, 0] = dense
    rows[:, 1] = dense_z
    rows[:, 2] = _rank_recip(dense)
    rows[:, 3] = dense - dense.max()
    rows[:, 4] = bm25
    rows[:, 5] = bm25_z
    rows[:, 6] = bm25_rel
    rows[:, 7] = _rank_recip(bm25) if bm25_max > 0 else 0.0
    for i, (s, info) in enumerate(zip(sentences, infos, strict=True)):
        shared = len(qterms & info.terms)
        rows[i, 8] = shared / len(qterms) if qterms else 0.0
        rows[i, 9] = float(shared > 0)
        rows[i, 10] = (len(q.names & info.names) / len(q.names)) if q.names else 0.0
        rows[i, 11] = (len(q.numbers & info.numbers) / len(q.numbers)) if q.numbers else 0.0
        rows[i, 12] = float(q.asks_number and bool(info.numbers - q.numbers))
        rows[i, 13] = float(q.asks_who and bool(info.mid_names - q.names))
        rows[i, 14] = float(q.asks_when and info.has_time)
        rows[i, 15] = float(q.asks_where and info.has_place)
        rows[i, 16] = (s.n - 1) / max(n - 1, 1)
        rows[i, 17] = float(s.kind == "body")
        rows[i, 18] = float(s.kind in ("headline", "section", "subheading"))
        rows[i, 19] = np.log1p(len(s.text))
        rows[i, 26] = sum(idf[t] for t in qterms & info.terms) / idf_total if idf_total > 0 else 0.0
        rows[i, 27] = len(q.cognates & info.cognates) / len(q.cognates) if q.cognates else 0.0
        rows[i, 29] = float(bool(q.names) and q.names <= info.names)
        rows[i, 30] = float(s.kind == "teaser")
        rows[i, 31] = (len(info.terms - qterms) / len(info.terms)) if info.terms else 0.0
        rows[i, 32] = float(q.asks_why and info.has_cause)
        rows[i, 33] = float(bool(info.mid_names - q.names))
        rows[i, 34] = float(bool(info.numbers - q.numbers))
        rows[i, 35] = (len(q.bigrams & info.bigrams) / len(q.bigrams)) if q.bigrams else 0.0
    rows[:, 20] = _shift(dense_z, 1)
    rows[:, 21] = _shift(dense_z, -1)
    rows[:, 22] = _shift(bm25_rel, 1)
    rows[:, 23] = _shift(bm25_rel, -1)
    rows[:, 24] = dense_z * bm25_rel
    rows[:, 25] = _z(dense_z + bm25_z)
    rows[:, 28] = _z(rows[:, 27])
    return rows


def abstain_row(
    q: QuestionInfo, matrix: np.ndarray, scores: np.ndarray, article: ArticleInfo
) -> np.ndarray:
    """Question-level features for the abstention model (order: ranker.ABSTAIN_FEATURES).

    They describe the best candidates and how much of the question the article covers at
    all, since a single cosine threshold does not separate answerable questions.
    """
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    order = np.argsort(-scores, kind="stable")
    top = order[0]
    second = scores[order[1]] if len(order) > 1 else scores[top] - 1.0
    qterms = set(q.terms)
    type_match = (
        matrix[top, col["asks_number_has_digit"]]
        + matrix[top, col["asks_who_has_name"]]
        + matrix[top, col["asks_when_has_time"]]
    )
    asks_type = q.asks_number or q.asks_who or q.asks_when
    return np.array(
        [
            scores[top],
            scores[top] - second,
            matrix[top, col["dense"]],
            matrix[top, col["dense_z"]],
            matrix[top, col["bm25"]],
            matrix[top, col["bm25_rel"]],
            matrix[:, col["term_overlap"]].max(),
            matrix[:, col["name_overlap"]].max(),
            len(qterms & article.terms) / len(qterms) if qterms else 0.0,
            len(q.names & article.names) / len(q.names) if q.names else 1.0,
            float(bool(q.names)),
            matrix[:, col["dense"]].max(),
            matrix[:, col["dense"]].max() - float(np.median(matrix[:, col["dense"]])),
            type_match if asks_type else 1.0,
            matrix[:, col["idf_overlap"]].max(),
            matrix[:, col["cognate_overlap"]].max(),
            len(q.cognates & article.cognates) / len(q.cognates) if q.cognates else 1.0,
            matrix[top, col["idf_overlap"]],
            matrix[top, col["cognate_overlap"]],
            len(q.numbers & article.numbers) / len(q.numbers) if q.numbers else 1.0,
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class ArticleInfo:
    """What the abstention features need of a whole article: its vocabulary."""

    terms: frozenset[str]
    names: frozenset[str]
    cognates: frozenset[str]
    numbers: frozenset[str]


def article_info(infos: Sequence[SentenceInfo]) -> ArticleInfo:
    """The union of the sentences' terms, names, cognates and numbers."""
    return ArticleInfo(
        terms=frozenset(t for i in infos for t in i.terms),
        names=frozenset(n for i in infos for n in i.names),
        cognates=frozenset(c for i in infos for c in i.cognates),
        numbers=frozenset(n for i in infos for n in i.numbers),
    )


@dataclass(frozen=True)
class PreparedSentences:
    """An article's (or a training passage's) sentences prepared for scoring, once: their
    vectors, BM25 index, parsed info and vocabulary. Training and answering score through
    the same object, so the features a model learned are the features it is given."""

    sentences: tuple[Sentence, ...]
    vectors: np.ndarray  # (n, dimension) unit rows, in document order
    lexical: LexicalIndex
    infos: tuple[SentenceInfo, ...]
    vocabulary: ArticleInfo

    def dense(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of a (unit) query vector to every sentence."""
        return np.asarray(self.vectors @ query_vector, dtype=np.float64)

    def features(self, q: QuestionInfo, query_vector: np.ndarray) -> np.ndarray:
        """The feature matrix of every sentence for one question."""
        return feature_matrix(
            q,
            self.sentences,
            self.infos,
            self.dense(query_vector),
            self.lexical.scores(q.terms),
            self.lexical,
        )

    def subset(self, keep: Sequence[int]) -> PreparedSentences:
        """Only the sentences at `keep`, prepared anew (BM25 statistics change)."""
        return prepare_sentences([self.sentences[i] for i in keep], self.vectors[list(keep)])


def prepare_sentences(sentences: Sequence[Sentence], vectors: np.ndarray) -> PreparedSentences:
    """What the features need of sentences and their stored vectors, computed once: the BM25
    index, each sentence's parsed info, and the vocabulary of them all."""
    lexical = LexicalIndex([s.text for s in sentences])
    infos = tuple(sentence_info(s, lexical.terms(i)) for i, s in enumerate(sentences))
    return PreparedSentences(
        sentences=tuple(sentences),
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        lexical=lexical,
        infos=infos,
        vocabulary=article_info(infos),
    )
