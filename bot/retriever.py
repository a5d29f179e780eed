"""Retrieval: ranking an article's sentences for a question.

Dense scores come from the article's vectors, read from its Chroma collection when the article
is loaded; lexical scores from BM25 over stemmed terms; the learned ranker fuses them with cheap
features. With the cross-encoder reranker (the default), the first stage's best few sentences
are read together with the question and rescored, and the reranker's answer rule decides
whether the article answers and whether a second sentence is cited. Questions in other
languages than the article's, which the first stage ranks on another scale, have a rule of
their own for the languages it serves (the shipped one: Swedish, ranking and citing, with the
refusal left to the first stage); in a language no rule serves the first stage answers.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from bot.answer_records import Ranked
from bot.ranking.crossencoder import AnswerRule, CrossEncoderScorer
from bot.ranking.features import (
    PreparedSentences,
    QuestionInfo,
    abstain_row,
    prepare_sentences,
    question_info,
)
from bot.ranking.model import RankerModel, logit
from bot.ranking.reader import Reading
from core.records import Article, Manifest, Sentence
from index.embedder import SentenceEmbedder


@dataclass(frozen=True)
class SentenceIndex:
    """One article's index loaded for querying."""

    article: Article
    manifest: Manifest
    prepared: PreparedSentences  # its sentences with the vectors stored in Chroma

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The article's sentences, in document order."""
        return self.prepared.sentences


def load_index(
    article: Article, manifest: Manifest, sentences: list[Sentence], vectors: np.ndarray
) -> SentenceIndex:
    """Prepare an article's sentences and stored vectors for querying."""
    return SentenceIndex(
        article=article, manifest=manifest, prepared=prepare_sentences(sentences, vectors)
    )


@dataclass(frozen=True)
class Retrieval:
    """Every sentence of the article ranked for one question, best first."""

    ranked: tuple[Ranked, ...]
    answerable: float  # the abstention model's probability that the article answers
    abstain: bool  # the calibrated decision: the article does not answer
    question: QuestionInfo
    second_within: float  # cite the runner-up too when its score is this close to the best
    first_stage: tuple[float, float]  # the first stage's two best scores (short answers)
    first_stage_answerable: float  # the first stage's own answerability
    rerank_ms: float = 0.0  # the cross-encoder's share of the time (0 without it)
    # the best sentence's pair as the cross-encoder read it (for the span reader), when the
    # cross-encoder ranked it
    reading: Reading | None = None


@dataclass(frozen=True)
class SentenceRetriever:
    """Ranks one article's sentences by dense + BM25 + learned features (and, with a
    reranker, rescores the best few). The answer chain's retrieve step calls `retrieve`,
    so the chain's config and callbacks see it as that step."""

    index: SentenceIndex
    embedder: SentenceEmbedder
    model: RankerModel
    reranker: CrossEncoderScorer | None = None

    def retrieve(
        self, question: str, language: str = "nb", vector: np.ndarray | None = None
    ) -> Retrieval:
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
        ranked = tuple(
            Ranked(sentence=prepared.sentences[i], score=float(scores[i]), features=tuple(rows[i]))
            for i in order
        )
        row = abstain_row(q, matrix, scores, prepared.vocabulary)
        answerable = float(variant.abstainer.probability(row[None, :])[0])
        top2 = (
            float(scores[order[0]]) if len(order) else 0.0,
            float(scores[order[1]]) if len(order) > 1 else 0.0,
        )
        first = Retrieval(
            ranked=ranked,
            answerable=answerable,
            abstain=answerable < variant.abstain_below,
            question=q,
            second_within=self.model.second_citation_within,
            first_stage=top2,
            first_stage_answerable=answerable,
        )
        # The answer rule combines the cross-encoder with the first stage's scores, whose
        # scale differs between the lexical and the cross-lingual variant: each has its own
        # rule, and without one for the question's language the first stage answers.
        if self.reranker is None or not ranked:
            return first
        rule = self.reranker.rule_for(language)
        if rule is None:
            return self._read_best(question, first)
        return self._reranked(
            question, first, logit(answerable) - logit(variant.abstain_below), rule
        )

    def _read_best(self, question: str, first: Retrieval) -> Retrieval:
        """The first stage's answer, with its best sentence read by the cross-encoder for the
        span reader (a question in another language than the article's keeps the first
        stage's ranking, but its short answer is read the same way)."""
        assert self.reranker is not None
        if self.reranker.reader is None or first.abstain:
            return first
        t0 = time.perf_counter()
        _, (reading,) = self.reranker.score_rows(question, [first.ranked[0].sentence.text])
        return dataclasses.replace(
            first, reading=reading, rerank_ms=(time.perf_counter() - t0) * 1000
        )

    def _reranked(
        self, question: str, first: Retrieval, abstain_logit: float, rule: AnswerRule
    ) -> Retrieval:
        """The first stage's best `rule.k` sentences rescored by the cross-encoder; the rest
        keep the first stage's order below them, on the same scale."""
        assert self.reranker is not None
        t0 = time.perf_counter()
        head = first.ranked[: rule.k]
        verdict = self.reranker.rerank(
            question,
            [r.sentence.text for r in head],
            np.array([r.score for r in head]),
            abstain_logit,
            rule,
        )
        top = [
            Ranked(
                sentence=head[i].sentence,
                score=float(verdict.combined[i]),
                features=head[i].features,
            )
            for i in verdict.order
        ]
        floor, last = float(verdict.combined.min()), head[-1].score
        rest = [
            Ranked(
                sentence=r.sentence,
                score=floor - max(rule.first_stage_weight, 1e-3) * (last - r.score) - 1e-6,
                features=r.features,
            )
            for r in first.ranked[rule.k :]
        ]
        return Retrieval(
            ranked=(*top, *rest),
            # a rule that does not decide refusals leaves them to the first stage
            answerable=verdict.answerable if rule.refuses else first.answerable,
            abstain=verdict.abstain if rule.refuses else first.abstain,
            question=first.question,
            second_within=rule.second_within,
            first_stage=first.first_stage,
            first_stage_answerable=first.first_stage_answerable,
            rerank_ms=(time.perf_counter() - t0) * 1000,
            reading=verdict.readings[verdict.order[0]] if verdict.readings else None,
        )
