"""Questions across every indexed article: one LCEL chain that routes, then answers.

The route step embeds the question once and takes each article's own nearest sentence (from
the article's loaded vectors), so every article competes with its best sentence only: a long
article holds many sentences near any question and would otherwise fill the nearest few
with its own. The few articles with the nearest best sentences are the candidates (with more
articles than the engine keeps loaded, the articles of the sentences nearest among all, from
one vector query over the shared collection); each is ranked by its own retriever (the same
features, BM25 and learned model as a one-article question, with the same vector), and the
article whose best sentence the ranker scores highest, among those it does not abstain on,
answers through its own answer step. The answer record then says `"article": "all"`, and
each citation and ranking entry names its article.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import cast

import numpy as np
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from bot.answer_records import ALL_ARTICLES, Answer, Ranked
from bot.chain import Answerer, ChainInput, RetrievalStep, chain_input
from bot.events import Event, Final, Retrieved
from bot.intent import retrieval_text
from bot.retriever import Retrieval
from core.errors import ArticleNotFoundError
from core.records import Sentence
from index.embedder import SentenceEmbedder

log = logging.getLogger(__name__)


@functools.cache
def answerable_weight() -> float:
    """The weight of the answerability probability beside the nearest cosine in the route
    score: `bot/data/route.json`, fitted by `articlebot train-route` on NorQuAD train
    questions asked across all train passages (docs/quality.md)."""
    ref = resources.files("bot") / "data" / "route.json"
    return float(json.loads(ref.read_text(encoding="utf-8"))["answerable_weight"])


Search = Callable[[np.ndarray, int], list[tuple[Sentence, float]]]


@dataclass(frozen=True)
class Candidate:
    """An article that may answer: its nearest sentence's cosine, and its own ranking."""

    answerer: Answerer
    retrieval: Retrieval
    nearest: float  # cosine of the question and the article's nearest sentence

    def route_score(self, answerable_weight: float) -> float:
        """How likely the article is the one that answers. The nearest sentence's cosine is
        comparable across articles (one embedding space); the ranker's own scores are not
        (BM25 and z-scores are relative to each article), but its answerability
        probability is, and it tells apart an article that mentions the topic from one that
        answers the question."""
        return self.nearest + answerable_weight * self.retrieval.answerable


@dataclass(frozen=True)
class Routed:
    """The route step's output: the answering article's step and the merged ranking."""

    step: RetrievalStep
    answerer: Answerer
    ranking: tuple[Ranked, ...]


def candidate_articles(
    hits: Sequence[tuple[Sentence, float]], limit: int
) -> list[tuple[str, float]]:
    """The articles of the nearest sentences with their nearest cosine, nearest first, at
    most `limit` of them."""
    out: dict[str, float] = {}
    for sentence, cosine in hits:
        if sentence.article_id not in out:
            out[sentence.article_id] = cosine
            if len(out) == limit:
                break
    return list(out.items())


def nearest_articles(best: Sequence[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """At most `limit` articles by their own nearest sentence's cosine, nearest first (ties
    by id, so the choice does not depend on the order articles were listed in)."""
    return sorted(best, key=lambda a: (-a[1], a[0]))[:limit]


def best_candidate(candidates: Sequence[Candidate], answerable_weight: float) -> Candidate:
    """The article to answer from: the best route score among the articles whose retrieval
    does not abstain, else among all (the answer then abstains)."""
    answering = [c for c in candidates if not c.retrieval.abstain and c.retrieval.ranked]
    return max(answering or candidates, key=lambda c: c.route_score(answerable_weight))


def merged_ranking(
    candidates: Sequence[Candidate], best: Candidate, weight: float, size: int
) -> tuple[Ranked, ...]:
    """The candidates' rankings as one: the answering
    article's sentences first, then the other articles' by route score. Ranker scores are
    not comparable across articles, so they order sentences within an article only."""
    order = [
        best,
        *sorted((c for c in candidates if c is not best), key=lambda c: -c.route_score(weight)),
    ]
    return tuple([r for c in order for r in c.retrieval.ranked[:size]][:size])


class RoutingAnswerer:
    """The answer chain over every indexed article: a route step, then the chosen article's
    own answering step (config and callbacks flow through both, as in `Answerer`)."""

    def __init__(
        self,
        answerer_for: Callable[[str], Answerer],
        search: Search,
        embedder: SentenceEmbedder,
        candidates: int,
        articles: int,
        ranking_size: int,
        route_weight: float | None = None,
        article_ids: Callable[[], Sequence[str]] | None = None,
        loaded_limit: int = 0,
    ) -> None:
        self._answerable_weight = answerable_weight() if route_weight is None else route_weight
        self._answerer_for = answerer_for
        self._search = search
        self._embedder = embedder
        self._candidates = candidates
        self._articles = articles
        self._ranking_size = ranking_size
        self._article_ids = article_ids
        self._loaded_limit = loaded_limit
        answer_step = RunnableLambda(self._respond, name="answer")
        self.chain = cast(
            "Runnable[ChainInput, Event]", RunnableLambda(self._route, name="route") | answer_step
        )

    def _route(self, inputs: ChainInput, config: RunnableConfig) -> Routed:
        t0 = time.perf_counter()
        text = retrieval_text(inputs.query, inputs.intent)
        vector = self._embedder.embed_query_array(text)
        nearest = self._nearest(vector)
        if not nearest:
            raise ArticleNotFoundError("no article is indexed; run `articlebot index`")
        candidates = []
        for article_id, cosine in nearest:
            answerer = self._answerer_for(article_id)
            retrieval = answerer.retriever.retrieve(text, inputs.language, vector=vector)
            candidates.append(Candidate(answerer, retrieval, cosine))
        best = best_candidate(candidates, self._answerable_weight)
        ms = (time.perf_counter() - t0) * 1000
        log.debug(
            "route %.1f ms over %d articles: %s",
            ms,
            len(nearest),
            best.answerer.retriever.index.article.id,
        )
        return Routed(
            RetrievalStep(inputs, best.retrieval, ms),
            best.answerer,
            merged_ranking(candidates, best, self._answerable_weight, self._ranking_size),
        )

    def _nearest(self, vector: np.ndarray) -> list[tuple[str, float]]:
        """The candidate articles with their nearest sentence's cosine."""
        ids = list(self._article_ids()) if self._article_ids is not None else []
        if ids and len(ids) <= self._loaded_limit:
            best = []
            for article_id in ids:
                prepared = self._answerer_for(article_id).retriever.index.prepared
                if len(prepared.sentences):
                    best.append((article_id, float(np.max(prepared.dense(vector)))))
            return nearest_articles(best, self._articles)
        return candidate_articles(self._search(vector, self._candidates), self._articles)

    def _relabel(self, event: Event, routed: Routed) -> Event:
        if isinstance(event, Retrieved):
            return Retrieved(routed.ranking, across=True)
        if isinstance(event, Final):
            return Final(across(event.answer, routed))
        return event

    def _respond(self, routed: Routed, config: RunnableConfig) -> Iterator[Event]:
        for event in routed.answerer.respond(routed.step, config):
            yield self._relabel(event, routed)

    def events(
        self,
        question: str,
        query: str | None = None,
        language: str | None = None,
        config: RunnableConfig | None = None,
    ) -> Iterator[Event]:
        """Answer a (cleaned) question from whichever article answers it, as events."""
        return self.chain.stream(chain_input(question, query, language), config=config)


def across(answer: Answer, routed: Routed) -> Answer:
    """An article's answer as an answer across articles: `article` is "all", each citation
    names its article and title, the ranking is the merged one."""
    title = routed.answerer.retriever.index.article.title
    citations = tuple(dataclasses.replace(c, title=title) for c in answer.citations)
    return dataclasses.replace(
        answer, article=ALL_ARTICLES, citations=citations, ranking=routed.ranking
    )
