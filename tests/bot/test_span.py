from __future__ import annotations

import pytest

from bot.ranking.features import question_info
from bot.span import short_answer


@pytest.mark.parametrize(("question", "sentence", "expected"), [
    ("Hvor mange millimeter nedbør falt?",
     "Så langt i november har det falt 51,1 millimeter nedbør i Bergen.", "51,1 millimeter"),
    ("Når ble brua åpnet?", "Brua ble åpnet 8. august 2008 av kongen.", "8. august 2008"),
    ("Hvilket år ble fylket delt?", "Trøndelag ble delt i 1804 i to amt.", "1804"),
    ("Hvem åpnet brua?", "Brua ble åpnet av statsminister Erna Solberg i fjor.",
     "Erna Solberg"),
    ("Hva tyder ryktene på?", "Ryktene tyder på høy grad av desperasjon.", None),
])
def test_short_answers(question: str, sentence: str, expected: str | None) -> None:
    assert short_answer(question_info(question), sentence) == expected


def test_who_skips_names_from_the_question() -> None:
    q = question_info("Hvem møtte Vladimir Putin?")
    assert short_answer(q, "Vladimir Putin møtte Kim Jong-un i Vladivostok.") == "Kim Jong-un"


def test_who_is_a_named_person_asks_for_a_description() -> None:
    question = "Hvem er Sergej Radtsjenko?"
    sentence = "Radtsjenko, som er professor ved Johns Hopkins School, peker på det."
    assert short_answer(question_info(question), sentence, question) is None
