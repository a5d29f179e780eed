"""The answer chain on the bundled article with the shipped ranker and abstainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer_records import Ranked
from bot.engine import Engine
from bot.eval.metrics import token_f1
from bot.extractive import choose_citations
from bot.settings import Settings
from core.records import Sentence


@pytest.fixture(scope="module")
def engine(shared_store: Path) -> Engine:
    return Engine(Settings(store=shared_store))


@pytest.mark.parametrize(
    ("question", "language", "needle"),
    [
        ("Hvor er Radtsjenko professor?", "nb", "Henry A Kissinger Center"),
        ("Hvem var på besøk i Nord-Korea i sommer?", "nb", "Sergej Sjojgu"),
        ("Hvilke land la ned veto mot nye resolusjoner?", "nb", "lagt ned veto"),
        ("Which regions did Pyongyang recognise as Russian?", "en", "Donetsk og Luhansk"),
    ],
)
def test_answers_cite_the_supporting_sentence(
    engine: Engine, question: str, language: str, needle: str
) -> None:
    answer = engine.ask(question, "article")
    assert not answer.abstained and answer.language == language
    assert needle in answer.citations[0].sentence.text
    assert all(c.support for c in answer.citations)
    assert answer.answer.startswith(answer.citations[0].sentence.text)
    assert len(answer.ranking) == 5


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("Hvem eier Manchester United?", "Artikkelen sier ikke noe om dette."),
        ("Hva koster en liter melk i Oslo?", "Artikkelen sier ikke noe om dette."),
        ("What is the capital of France?", "The article doesn't say."),
        ("Who won the football world cup in 2018?", "The article doesn't say."),
    ],
)
def test_off_topic_questions_abstain_in_their_language(
    engine: Engine, question: str, says: str
) -> None:
    answer = engine.ask(question, "article")
    assert answer.abstained and answer.answer == says
    assert answer.citations and not any(c.support for c in answer.citations)
    assert answer.short_answer is None


def test_short_answer_is_inside_the_first_citation(engine: Engine) -> None:
    question = "Hvem var på besøk i Nord-Korea i sommer?"
    answer = engine.ask(question, "article")
    first = answer.citations[0].sentence
    assert "Sergej Sjojgu" in first.text
    # shown only when the span reader is sure enough; then the name, verbatim, placed in
    # the article by its own offsets
    short = answer.short_answer
    if short is not None:
        assert token_f1(short.text, ["Sergej Sjojgu"]) >= 0.5
        article = engine.article("article").text
        assert article[short.start : short.end] == short.text
        assert short.sentence_id == first.id
        assert first.start <= short.start < short.end <= first.end


@pytest.mark.parametrize(
    "question",
    [
        "Hvorfor reiser Kim Jong-un til Russland?",
        "Hvordan reagerte Kreml?",
        "Hva handler saken om?",
    ],
)
def test_no_short_answer_where_the_answer_is_a_whole_sentence(
    engine: Engine, question: str
) -> None:
    assert engine.ask(question, "article").short_answer is None


def _ranked(*scores: float) -> tuple[Ranked, ...]:
    return tuple(
        Ranked(Sentence("a", i, "body", f"s{i}", 0, 2), s) for i, s in enumerate(scores, start=1)
    )


def test_a_second_citation_only_when_nearly_as_good() -> None:
    assert [r.sentence.n for r in choose_citations(_ranked(3.0, 2.5, 1.0), 1.0, 2)] == [1, 2]
    assert [r.sentence.n for r in choose_citations(_ranked(3.0, 1.5, 1.0), 1.0, 2)] == [1]
    assert [r.sentence.n for r in choose_citations(_ranked(3.0, 2.9, 2.8), 1.0, 2)] == [1, 2]
    assert choose_citations((), 1.0, 2) == []
