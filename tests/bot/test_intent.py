"""Question intent: overview, why and role questions told apart before ranking."""

from __future__ import annotations

import json

import pytest

from bot.intent import question_intent, retrieval_text
from tests.conftest import dataset


@pytest.mark.parametrize(
    "question",
    [
        "Hva handler artikkelen om?",
        "Kva handlar artikkelen om?",
        "Kan du oppsummere saken?",
        "What is the article about?",
        "Summarize the article",
        "What is the main claim?",
        "Worum geht es in dem Artikel?",
        "De quoi parle cet article ?",
        "Vad handlar artikeln om?",
        "Hva er hovedpoenget?",
        "Hva er saken egentlig om?",
        "Kva er denne teksten om?",
        "Hva er nyheten?",
        "Kort fortalt: hva skjedde?",
        "In short, what happened?",
    ],
)
def test_overview_questions_are_told_apart(question: str) -> None:
    assert question_intent(question).kind == "overview"


def test_no_norquad_question_is_taken_for_an_overview() -> None:
    """Fact questions about a passage must keep the normal path."""
    lines = dataset("norquad", "validation.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = {question_intent(json.loads(line)["question"]).kind for line in lines}
    assert "overview" not in kinds
    for fact in ("Hva er saken med Putin?", "Hva er det han er redd for?", "Hvem er Kim?"):
        assert question_intent(fact).kind != "overview"


def test_why_and_role_questions() -> None:
    assert question_intent("Hvorfor mener han det?").kind == "why"
    assert question_intent("Why is Russia desperate?").kind == "why"
    expert = question_intent("Hvem er eksperten i artikkelen?")
    assert expert.kind == "fact" and "analytikeren" in expert.role_words
    assert "professor" in retrieval_text(
        "Who is the expert?", question_intent("Who is the expert?")
    )
    # a role named outside a who-question does not widen retrieval
    assert question_intent("Hva sier eksperten om Kreml?").role_words == ()


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("Hvem besøkte Nord-Korea i sommer?", True),
        ("Hvor mange soldater har Nord-Korea?", True),
        ("Hvor lenge varte besøket?", True),
        ("How many people were there?", True),
        ("Hvorfor reiser Kim til Russland?", False),
        ("Hvordan reagerte USA?", False),
        ("Korleis kom han seg dit?", False),
        ("How did Kim travel to Russia?", False),
        ("Hva handler artikkelen om?", False),
    ],
)
def test_a_short_answer_only_where_a_name_date_number_or_place_answers(
    question: str, short: bool
) -> None:
    assert question_intent(question).wants_short_answer is short
