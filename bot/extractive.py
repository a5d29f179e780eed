"""The extractive answer: the article's own sentences, quoted verbatim.

The answer quotes the best sentence verbatim, marked [1], and a second one only when the
ranker scores it nearly as high (it then likely adds support the first lacks), each with the
neighbour it depends on (`bot.supporting`); an overview question gets the headline, lead and
main claim. When the abstention model says the article does not answer, the answer says so
in the question's language and lists the closest sentences with `support: false`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot import texts
from bot.answer_records import Answer, Citation, Ranked, ShortAnswer
from bot.intent import Intent
from bot.ranking.reader import SpanReader
from bot.retriever import Retrieval
from bot.short_answer import short_answer
from bot.supporting import dependent_neighbour, overview_sentences
from core.records import Sentence

FACT = Intent("fact")


def choose_citations(ranked: tuple[Ranked, ...], within: float, max_citations: int) -> list[Ranked]:
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


def extractive_answer(
    question: str,
    retrieval: Retrieval,
    article_id: str,
    language: str,
    within: float,
    max_citations: int,
    ranking_size: int,
    intent: Intent = FACT,
    sentences: Sequence[Sentence] = (),
    vectors: np.ndarray | None = None,
    reader: SpanReader | None = None,
) -> Answer:
    """Compose the extractive answer from a retrieval: the best sentence (and a close
    second), with the neighbour it depends on; for an overview question, the headline, lead
    and main claim. `sentences` (document order) and `vectors` are the article's; `reader`
    finds the short answer in the sentence cited first when the cross-encoder read it."""
    ranked = retrieval.ranked
    if intent.kind == "overview" and sentences and vectors is not None:
        return _overview(
            question, retrieval, article_id, language, ranking_size, sentences, vectors
        )
    abstained = not ranked or retrieval.abstain
    if abstained:
        citations = tuple(
            Citation(n=i, sentence=r.sentence, score=r.score, support=False)
            for i, r in enumerate(ranked[:2], start=1)
        )
        body = texts.text("abstain", language)
    else:
        chosen = choose_citations(ranked, within, max_citations)
        cited = _with_neighbours([r.sentence for r in chosen], sentences, intent)
        score = {r.sentence.id: r.score for r in ranked}
        citations = tuple(
            Citation(n=i, sentence=s, score=score.get(s.id, 0.0))
            for i, s in enumerate(cited, start=1)
        )
        body = " ".join(f"{c.sentence.text} [{c.n}]" for c in citations)
    short = (
        _short_answer(question, retrieval, chosen[0].sentence, reader)
        if not abstained and intent.wants_short_answer
        else None
    )
    return Answer(
        question=question,
        answer=body,
        language=language,
        article=article_id,
        citations=citations,
        ranking=ranked[:ranking_size],
        abstained=abstained,
        short_answer=short,
    )


def _short_answer(
    question: str, retrieval: Retrieval, sentence: Sentence, reader: SpanReader | None
) -> ShortAnswer | None:
    """The short answer inside `sentence`: the span reader's over the cross-encoder's reading
    of it; without one (no reranker, or a question it did not rescore) the first stage's
    pattern model, whose gate was fitted on the first stage's scores and answerability."""
    reading = retrieval.reading
    if reader is not None and reading is not None and reading.sentence == sentence.text:
        read = reader.read(reading, retrieval.question, retrieval.answerable)
        if read is None:
            return None
        text = sentence.text[read.start : read.end]
        return ShortAnswer.inside(sentence, text, read.start, read.confidence)
    found = short_answer(
        retrieval.question,
        sentence.text,
        question,
        list(retrieval.first_stage),
        retrieval.first_stage_answerable,
    )
    if found is None:
        return None
    return ShortAnswer.inside(sentence, found.text, found.offset, found.confidence)


def _with_neighbours(
    chosen: list[Sentence], sentences: Sequence[Sentence], intent: Intent
) -> list[Sentence]:
    """The chosen sentences with the neighbours they depend on; the best one first, each
    neighbour right beside its sentence in document order."""
    position = {s.id: i for i, s in enumerate(sentences)}
    out: list[Sentence] = []
    for sentence in chosen:
        i = position.get(sentence.id)
        j = dependent_neighbour(sentences, i, intent) if i is not None else None
        unit = [sentence] if j is None else sorted([sentence, sentences[j]], key=lambda s: s.start)
        out.extend(s for s in unit if s not in out)
    return out


def _overview(
    question: str,
    retrieval: Retrieval,
    article_id: str,
    language: str,
    ranking_size: int,
    sentences: Sequence[Sentence],
    vectors: np.ndarray,
) -> Answer:
    """The answer to "what is the article about": its headline, lead and main claim."""
    chosen = [sentences[i] for i in overview_sentences(sentences, vectors)]
    score = {r.sentence.id: r.score for r in retrieval.ranked}
    citations = tuple(
        Citation(n=i, sentence=s, score=score.get(s.id, 0.0)) for i, s in enumerate(chosen, start=1)
    )
    body = " ".join(f"{c.sentence.text} [{c.n}]" for c in citations)
    # the answer ranks by what the sentences are to the article, not by likeness to the
    # question: its ranking says so, the cited sentences first
    by_id = {r.sentence.id: r for r in retrieval.ranked}
    first = [by_id.get(s.id, Ranked(sentence=s, score=score.get(s.id, 0.0))) for s in chosen]
    rest = [r for r in retrieval.ranked if r.sentence.id not in {s.id for s in chosen}]
    return Answer(
        question=question,
        answer=body,
        language=language,
        article=article_id,
        citations=citations,
        ranking=(*first, *rest)[:ranking_size],
        abstained=not citations,
        short_answer=None,
    )
