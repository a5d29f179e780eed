"""Answering: an LCEL chain from a question to an `Answer` with verified citations.

A retrieve step ranks the article's sentences (`bot.retriever`); an answer step composes the
extractive answer (`bot.extractive`) and, with a configured model, streams the generated one
(`bot.llm`). Both steps yield the events of `bot.events`; config and callbacks flow through.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from bot.answer_records import Answer
from bot.events import Delta, Event, Final, Retrieved, final_answer
from bot.extractive import FACT, extractive_answer
from bot.intent import Intent, question_intent, retrieval_text
from bot.language import detect_language
from bot.retriever import Retrieval, SentenceRetriever
from core.records import Sentence

if TYPE_CHECKING:
    from bot.llm import Generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainInput:
    """The chain's input."""

    question: str  # cleaned, as answered and shown
    query: str  # what retrieval sees (the question, or widened by the conversation)
    language: str
    intent: Intent = FACT


def chain_input(question: str, query: str | None = None, language: str | None = None) -> ChainInput:
    """The input of an answer chain for a (cleaned) question: its language (detected unless
    given) and intent; `query`, what retrieval sees, defaults to the question."""
    return ChainInput(
        question=question,
        query=query or question,
        language=language or detect_language(question),
        intent=question_intent(question),
    )


@dataclass(frozen=True)
class RetrievalStep:
    """The first step's output: the question with its retrieval and how long it took."""

    question: ChainInput
    retrieval: Retrieval
    retrieve_ms: float


class Answerer:
    """The answer chain over one article's retriever: a LangChain sequence of a retrieval
    step and an answering step that yields events (`bot.events`).

    Both steps take the run's config, so callbacks, tags and tracing reach the retriever
    step and, with a model, the chat model's own streaming call (a callback handler sees its
    tokens); there is no other path to an answer. The HTTP API streams these events from a
    worker thread, so the chain has no async twin.
    """

    def __init__(
        self,
        retriever: SentenceRetriever,
        max_citations: int,
        ranking_size: int,
        generator: Generator | None = None,
    ) -> None:
        self._retriever = retriever
        self._max_citations = max_citations
        self._ranking_size = ranking_size
        self.generator = generator
        # RunnableLambda streams what a generator function yields; its annotations describe
        # the output as the generator itself, not the items streamed, hence the cast.
        answer_step = RunnableLambda(self.respond, name="answer")
        self.chain = cast(
            "Runnable[ChainInput, Event]",
            RunnableLambda(self._retrieve, name="retrieve") | answer_step,
        )

    def with_generator(self, generator: Generator | None) -> Answerer:
        """The same article's chain with another generative step (or none)."""
        return Answerer(self._retriever, self._max_citations, self._ranking_size, generator)

    def _retrieve(self, inputs: ChainInput, config: RunnableConfig) -> RetrievalStep:
        t0 = time.perf_counter()
        retrieval = self._retriever.retrieve(
            retrieval_text(inputs.query, inputs.intent), inputs.language
        )
        ms = (time.perf_counter() - t0) * 1000
        top = retrieval.ranked[0] if retrieval.ranked else None
        log.debug(
            "retrieve %.1f ms: top %s (%.2f), answerable %.3f -> %s",
            ms,
            top.sentence.id if top else "-",
            top.score if top else 0.0,
            retrieval.answerable,
            "abstain" if retrieval.abstain else "answer",
        )
        return RetrievalStep(inputs, retrieval, ms)

    def _compose(self, step: RetrievalStep) -> Answer:
        t0 = time.perf_counter()
        answer = extractive_answer(
            step.question.question,
            step.retrieval,
            self._retriever.index.article.id,
            step.question.language,
            step.retrieval.second_within,
            self._max_citations,
            self._ranking_size,
            step.question.intent,
            self._retriever.index.sentences,
            self._retriever.index.prepared.vectors,
            self._retriever.reranker.reader if self._retriever.reranker else None,
        )
        timings = {
            "retrieve": step.retrieve_ms,
            "rerank": step.retrieval.rerank_ms,
            "answer": (time.perf_counter() - t0) * 1000,
        }
        return dataclasses.replace(answer, timings_ms=timings)

    def _opening(self, step: RetrievalStep) -> tuple[list[Event], Answer]:
        """The events every answer starts with, and the extractive answer: always composed,
        since it is the answer without a model and the fallback with one (then it is whole:
        its text and the final answer)."""
        extractive = self._compose(step)
        events: list[Event] = [Retrieved(step.retrieval.ranked[: self._ranking_size])]
        if self.generator is None:
            events += [Delta(extractive.answer), Final(extractive)]
        return events, extractive

    def respond(self, step: RetrievalStep, config: RunnableConfig) -> Iterator[Event]:
        """The answering step: the events of the answer to a retrieved question."""
        opening, extractive = self._opening(step)
        yield from opening
        if self.generator is not None:
            yield from self._generate(step, extractive, config)

    def _generate(
        self, step: RetrievalStep, extractive: Answer, config: RunnableConfig
    ) -> Iterator[Event]:
        assert self.generator is not None
        t0 = time.perf_counter()
        shown = _Shown()
        for item in self.generator.stream(
            step.question.question,
            step.question.language,
            step.retrieval,
            extractive,
            self._retriever.index.article.text,
            config=config,
        ):
            event = shown.event(item, extractive, t0)
            if event is not None:
                yield event

    @property
    def retriever(self) -> SentenceRetriever:
        """The retriever the chain ranks with."""
        return self._retriever

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The article's sentences, in document order."""
        return self._retriever.index.sentences

    def events(
        self,
        question: str,
        query: str | None = None,
        language: str | None = None,
        config: RunnableConfig | None = None,
    ) -> Iterator[Event]:
        """Answer a (cleaned) question as events; `query` may widen retrieval with the
        conversation so far."""
        return self.chain.stream(chain_input(question, query, language), config=config)

    def answer(
        self, question: str, query: str | None = None, language: str | None = None
    ) -> Answer:
        """The events drained: the final answer."""
        return final_answer(self.events(question, query, language))


class _Shown:
    """The model's checked text as the events have shown it so far."""

    def __init__(self) -> None:
        self.text = ""

    def event(self, item: str | Answer, extractive: Answer, t0: float) -> Event | None:
        """The event for the generator's next item: a delta when the checked text grew, the
        final answer at the end, or None."""
        if isinstance(item, Answer):
            log.debug(
                "model answer in %.0f ms: %s",
                (time.perf_counter() - t0) * 1000,
                item.fallback_reason or f"{len(item.citations)} valid citations",
            )
            return Final(_timed(item, extractive, t0))
        if item.startswith(self.text) and len(item) > len(self.text):
            # the checked text only ever grows here; a view that changed what was already
            # shown waits for the final answer, which replaces it
            delta, self.text = item[len(self.text) :], item
            return Delta(delta)
        return None


def _timed(answer: Answer, extractive: Answer, t0: float) -> Answer:
    """`answer` with the model's time added to the extractive timings."""
    timings = dict(extractive.timings_ms)
    timings["answer"] = timings.get("answer", 0.0) + (time.perf_counter() - t0) * 1000
    return dataclasses.replace(answer, timings_ms=timings)
