"""Follow-up questions read the conversation Gradio passes in."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ui.conversation import has_pronoun, message_text, names, retrieval_query


def _user(text: str, parts: bool = False) -> dict[str, Any]:
    content: Any = [{"type": "text", "text": text}] if parts else text
    return {"role": "user", "content": content}


def _bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize("parts", [False, True])
def test_a_pronoun_question_borrows_the_names_of_the_last_question(parts: bool) -> None:
    history = [_user("Hvem er Sergej Radtsjenko?", parts), _bot("Han er analytiker.")]
    assert retrieval_query("Hvor jobber han?", history) == "Hvor jobber han? Sergej Radtsjenko"
    assert retrieval_query("Where does he work?", history) == \
        "Where does he work? Sergej Radtsjenko"


def test_the_latest_question_with_a_name_wins_over_older_ones() -> None:
    history = [_user("Hvem er Vladimir Putin?"), _bot("x"),
               _user("Hvem er Sergej Radtsjenko?"), _bot("y"),
               _user("Hvor jobber han?"), _bot("z")]
    assert retrieval_query("Hva skriver han?", history) == "Hva skriver han? Sergej Radtsjenko"


def test_without_names_earlier_the_last_question_is_added_whole() -> None:
    history = [_user("hva skjedde i sommer?"), _bot("x")]
    assert retrieval_query("Hvorfor det?", history) == "Hvorfor det? hva skjedde i sommer?"


@pytest.mark.parametrize(("question", "history"), [
    ("Hvor jobber han?", []),  # nothing to lean on
    ("Hvor jobber Radtsjenko?", [_user("Hvem er Putin?")]),  # names someone itself
    ("Hvem er Sergej Radtsjenko?", [_user("Hvem er Putin?")]),  # no pronoun
    ("Hvor jobber han?", [_bot("only an answer")]),
])
def test_questions_that_stand_alone_are_retrieved_as_asked(
        question: str, history: list[dict[str, Any]]) -> None:
    assert retrieval_query(question, history) is None


def test_the_first_word_and_question_words_are_not_names() -> None:
    assert names("Hvem er Sergej Radtsjenko?") == ["Sergej", "Radtsjenko"]
    assert names("Hva sier Kreml om Nord-Korea?") == ["Kreml", "Nord-Korea"]
    assert names("Where does he work?") == []
    assert has_pronoun("Hva mener hun?") and not has_pronoun("Hva mener Putin?")


def test_message_text_reads_strings_and_parts() -> None:
    assert message_text({"role": "user", "content": "a"}) == "a"
    assert message_text({"role": "user", "content": [{"type": "text", "text": "a"},
                                                     {"type": "file", "file": {}}, "b"]}) == "a b"
    assert message_text({"role": "user", "content": None}) == ""


def test_a_huge_earlier_message_costs_little() -> None:
    history = [_user("Hvem er " + "Ola " * 200_000), _bot("x")]
    query = retrieval_query("Hvor bor han?", history)
    assert query is not None and query.startswith("Hvor bor han? Ola")
