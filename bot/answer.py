"""Answering: an LCEL chain from a question to an `Answer` with verified citations.

The extractive answer quotes the best sentence verbatim, marked [1], and a second one only
when the ranker scores it nearly as high (it then likely adds support the first lacks).
When the abstention model says the article does not answer, the answer says so in the
question's language and lists the closest sentences with `support: false`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig

from bot import texts
from bot.language import detect_language
from bot.records import Answer, Citation, Ranked
from bot.retriever import Retrieval, SentenceRetriever
from bot.span import short_answer
from index.records import Sentence

if TYPE_CHECKING:
    from bot.llm import Generator


def choose_citations(ranked: tuple[Ranked, ...], within: float, max_citations: int) -> list[
        Ranked]:
    """The top sentence, plus followers scoring within `within` of it (document order kept
    by the caller)."""
    if not ranked:
        return []
    top = ranked[0].score
    chosen = [ranked[0]]
    for r in ranked[1:max_citations]:
        if top - r.score <= within:
            chosen.append(r)
    return chosen


def extractive_answer(question: str, retrieval: Retrieval, article_id: str, language: str,
                      within: float, max_citations: int,
                      ranking_size: int) -> Answer:
    """Compose the extractive answer from a retrieval."""
    ranked = retrieval.ranked
    abstained = not ranked or retrieval.abstain
    if abstained:
        citations = tuple(Citation(n=i, sentence=r.sentence, score=r.score, support=False)
                          for i, r in enumerate(ranked[:2], start=1))
        body = texts.text("abstain", language)
    else:
        chosen = choose_citations(ranked, within, max_citations)
        citations = tuple(Citation(n=i, sentence=r.sentence, score=r.score)
                          for i, r in enumerate(chosen, start=1))
        body = " ".join(f"{c.sentence.text} [{c.n}]" for c in citations)
    short = None if abstained else short_answer(retrieval.question,
                                                citations[0].sentence.text, question)
    return Answer(question=question, answer=body, language=language, article=article_id,
                  citations=citations, ranking=ranked[:ranking_size], abstained=abstained,
                  short_answer=short)


class _Step(Runnable[dict[str, Any], Any]):
    """One step of the answer chain: a plain function as a Runnable.

    RunnableLambda inspects its function's signature on every call; with two steps that
    cost about 0.4 ms a question, a third of all the time outside the embedding."""

    def __init__(self, func: Callable[[dict[str, Any]], Any]) -> None:
        self._func = func

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None,
               **kwargs: Any) -> Any:
        """Run the step."""
        return self._func(input)


class Answerer:
    """The answer chain over one article's retriever."""

    def __init__(self, retriever: SentenceRetriever, max_citations: int,
                 ranking_size: int, generator: Generator | None = None) -> None:
        self._retriever = retriever
        self._max_citations = max_citations
        self._ranking_size = ranking_size
        self.generator = generator
        # The extractive answer is always composed: it is the answer without a model, and
        # the fallback with one.
        self.chain: Runnable[dict[str, Any], Answer] = (
            _Step(self._retrieve) | _Step(self._compose if generator is None else self._generate))

    def with_generator(self, generator: Generator | None) -> Answerer:
        """The same article's chain with another generative step (or none)."""
        return Answerer(self._retriever, self._max_citations, self._ranking_size, generator)

    def _retrieve(self, inputs: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        retrieval = self._retriever.retrieve(inputs["query"], inputs["language"])
        return {**inputs, "retrieval": retrieval,
                "retrieve_ms": (time.perf_counter() - t0) * 1000}

    def _compose(self, inputs: dict[str, Any]) -> Answer:
        t0 = time.perf_counter()
        model = self._retriever.model
        answer = extractive_answer(
            inputs["question"], inputs["retrieval"], self._retriever.index.article.id,
            inputs["language"], model.second_citation_within,
            self._max_citations, self._ranking_size)
        timings = {"retrieve": inputs["retrieve_ms"],
                   "answer": (time.perf_counter() - t0) * 1000}
        return dataclasses.replace(answer, timings_ms=timings)

    def _generate(self, inputs: dict[str, Any]) -> Answer:
        assert self.generator is not None
        extractive = self._compose(inputs)
        t0 = time.perf_counter()
        answer = self.generator.generate(inputs["question"], inputs["language"],
                                         inputs["retrieval"], extractive,
                                         self._retriever.index.article.text)
        return _timed(answer, extractive, t0)

    @property
    def retriever(self) -> SentenceRetriever:
        """The retriever the chain ranks with."""
        return self._retriever

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        """The article's sentences, in document order."""
        return self._retriever.index.sentences

    def answer(self, question: str, query: str | None = None,
               language: str | None = None) -> Answer:
        """Answer a (cleaned) question; `query` may widen retrieval with conversation context."""
        return self.chain.invoke({"question": question, "query": query or question,
                                  "language": language or detect_language(question)})

    def answer_stream(self, question: str, query: str | None = None,
                      language: str | None = None) -> Iterator[str | Answer]:
        """Like `answer`, streamed: with a generative step, the checked answer text so far
        (str, cumulative) as the model writes it; always the final `Answer` last."""
        inputs = self._retrieve({"question": question, "query": query or question,
                                 "language": language or detect_language(question)})
        generator = self.generator
        extractive = self._compose(inputs)
        if generator is None:
            yield extractive
            return
        t0 = time.perf_counter()
        for item in generator.stream(inputs["question"], inputs["language"],
                                     inputs["retrieval"], extractive,
                                     self._retriever.index.article.text):
            yield _timed(item, extractive, t0) if isinstance(item, Answer) else item


def _timed(answer: Answer, extractive: Answer, t0: float) -> Answer:
    """`answer` with the model's time added to the extractive timings."""
    timings = dict(extractive.timings_ms)
    timings["answer"] = timings.get("answer", 0.0) + (time.perf_counter() - t0) * 1000
    return dataclasses.replace(answer, timings_ms=timings)
