"""Retrieval: a LangChain retriever that ranks an article's sentences for a question.

Dense scores come from the article's vectors, read from its Chroma collection when the article
is loaded; lexical scores from BM25 over stemmed terms; the learned ranker fuses them with cheap
features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.language import detect_language
from bot.ranking.features import (
    PreparedSentences,
    QuestionInfo,
    abstain_row,
    prepare_sentences,
    question_info,
)
from bot.ranking.model import RankerModel
from bot.records import Ranked
from index.embedder import SentenceEmbedder
from index.records import Article, Manifest, Sentence


@dataclass(frozen=True)
class SentenceIndex:
    """One article's index loaded for querying."""

    article: Article
    manifest: Manifest
    prepared: PreparedSentences  # its sentences with the vectors stored in Chroma
    # a langchain_chroma.Chroma over the article's collection, opened when first asked for:
    # answering never needs it, and building one costs about 30 ms (Chroma's settings),
    # which an answer across articles would pay for every candidate article it loads
    open_vectorstore: Callable[[], Any]

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The article's sentences, in document order."""
        return self.prepared.sentences

    def vectorstore(self) -> Any:
        """The LangChain vector store over the article's collection."""
        return self.open_vectorstore()


def load_index(article: Article, manifest: Manifest, sentences: list[Sentence],
               vectors: np.ndarray, open_vectorstore: Callable[[], Any]) -> SentenceIndex:
    """Prepare an article's sentences and stored vectors for querying."""
    return SentenceIndex(article=article, manifest=manifest,
                         prepared=prepare_sentences(sentences, vectors),
                         open_vectorstore=open_vectorstore)


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

    def chroma_dense_scores(self, question: str) -> np.ndarray:
        """The dense scores `retrieve` computes, through a Chroma search over all sentences.

        `retrieve` needs every sentence's score, not a top k, so this query would be a full
        scan by another route: it cost 2.4-2.9 ms a question against 0.01 ms for the product
        over the vectors the collection held when the article was loaded. Kept as the
        reference the product is checked against."""
        n = len(self.index.sentences)
        vector = self.embedder.embed_query(question)
        hits = self.index.vectorstore().similarity_search_by_vector_with_relevance_scores(
            vector, k=n)
        scores = np.full(n, -1.0)
        for doc, distance in hits:  # langchain-chroma gives the collection's cosine distance
            scores[int(doc.metadata["n"]) - 1] = 1.0 - float(distance)
        return scores

    def retrieve(self, question: str, language: str = "nb",
                 vector: np.ndarray | None = None) -> Retrieval:
        """Rank all sentences of the article for a question in `language`; `vector` is the
        question's embedding when the caller already has it (asking across articles embeds
        the question once for all of them)."""
        prepared = self.index.prepared
        q = question_info(question)
        if vector is None:
            vector = self.embedder.embed_query_array(question)
        matrix = prepared.features(q, vector)
        variant = self.model.variant(language)
        scores = variant.ranker.decision(matrix)
        order = np.argsort(-scores, kind="stable")
        rows = matrix.tolist()
        ranked = tuple(Ranked(sentence=prepared.sentences[i], score=float(scores[i]),
                              features=tuple(rows[i])) for i in order)
        row = abstain_row(q, matrix, scores, prepared.vocabulary)
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
