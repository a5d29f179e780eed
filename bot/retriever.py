"""Retrieval: a LangChain retriever that ranks an article's sentences for a question.

Dense scores come from the article's vectors, read from its Chroma collection when the article
is loaded; lexical scores from BM25 over stemmed terms; the learned ranker fuses them with cheap
features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.features import (
    ArticleInfo,
    QuestionInfo,
    SentenceInfo,
    abstain_row,
    feature_matrix,
    parse_sentences,
    question_info,
)
from bot.language import detect_language
from bot.lexical import LexicalIndex
from bot.ranker import RankerModel
from bot.records import Ranked
from index.embedder import SentenceEmbedder
from index.records import Article, Manifest, Sentence


@dataclass(frozen=True)
class SentenceIndex:
    """One article's index loaded for querying: sentences, vectors, BM25, per-sentence info."""

    article: Article
    manifest: Manifest
    sentences: tuple[Sentence, ...]
    vectors: np.ndarray  # (n, dimension) unit rows, in document order, as stored in Chroma
    lexical: LexicalIndex
    infos: tuple[SentenceInfo, ...]
    vocabulary: ArticleInfo
    vectorstore: Any  # langchain_chroma.Chroma over the article's collection


def load_index(article: Article, manifest: Manifest, sentences: list[Sentence],
               vectors: np.ndarray, vectorstore: Any) -> SentenceIndex:
    """Prepare an article's sentences and stored vectors for querying (BM25, parsed info)."""
    lexical, infos, vocabulary = parse_sentences(sentences)
    return SentenceIndex(
        article=article, manifest=manifest, sentences=tuple(sentences),
        vectors=np.ascontiguousarray(vectors, dtype=np.float32), lexical=lexical,
        infos=infos, vocabulary=vocabulary, vectorstore=vectorstore)


@dataclass(frozen=True)
class Retrieval:
    """Every sentence of the article ranked for one question, best first."""

    ranked: tuple[Ranked, ...]
    answerable: float  # the abstention model's probability that the article answers
    abstain: bool  # the calibrated decision: the article does not answer
    question: QuestionInfo


class SentenceRetriever(BaseRetriever):
    """Ranks one article's sentences by dense + BM25 + learned features."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: SentenceIndex
    embedder: SentenceEmbedder
    model: RankerModel
    k: int = 5

    def dense_scores(self, question: str) -> np.ndarray:
        """Cosine similarity of the question to every sentence of the article.

        The ranker needs every sentence's score, not a top k, so a Chroma query would be a
        full scan by another route: it cost 2.4-2.9 ms a question against 0.01 ms for this
        product over the vectors the collection held when the article was loaded
        (`chroma_dense_scores` is that route, kept as the reference)."""
        vector = self.embedder.embed_query_array(question)
        return np.asarray(self.index.vectors @ vector, dtype=np.float64)

    def chroma_dense_scores(self, question: str) -> np.ndarray:
        """The same scores through a Chroma similarity search over all sentences."""
        n = len(self.index.sentences)
        vector = self.embedder.embed_query(question)
        hits = self.index.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=n)
        scores = np.full(n, -1.0)
        for doc, distance in hits:  # langchain-chroma gives the collection's cosine distance
            scores[int(doc.metadata["n"]) - 1] = 1.0 - float(distance)
        return scores

    def retrieve(self, question: str, language: str = "nb") -> Retrieval:
        """Rank all sentences of the article for a question in `language`."""
        idx = self.index
        q = question_info(question)
        dense = self.dense_scores(question)
        bm25 = idx.lexical.scores(q.terms)
        matrix = feature_matrix(q, idx.sentences, idx.infos, dense, bm25, idx.lexical)
        variant = self.model.variant(language)
        scores = variant.ranker.decision(matrix)
        order = np.argsort(-scores, kind="stable")
        rows = matrix.tolist()
        ranked = tuple(Ranked(sentence=idx.sentences[i], score=float(scores[i]),
                              features=tuple(rows[i])) for i in order)
        row = abstain_row(q, matrix, scores, idx.vocabulary)
        answerable = float(variant.abstainer.probability(row[None, :])[0])
        return Retrieval(ranked=ranked, answerable=answerable,
                         abstain=answerable < variant.abstain_below, question=q)

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = self.retrieve(query, detect_language(query))
        return [
            Document(page_content=r.sentence.text, id=r.sentence.id,
                     metadata={"sentence_id": r.sentence.id, "n": r.sentence.n,
                               "kind": r.sentence.kind, "start": r.sentence.start,
                               "end": r.sentence.end, "score": r.score,
                               "answerable": result.answerable})
            for r in result.ranked[:self.k]
        ]
