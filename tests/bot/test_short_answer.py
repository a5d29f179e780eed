from __future__ import annotations

import numpy as np
import pytest

from bot.ranking.features import question_info
from bot.ranking.model import LinearModel
from bot.short_answer import (
    FEATURES,
    ShortAnswerModel,
    candidate,
    confidence,
    read_model,
    short_answer,
)


def _text(question: str, sentence: str) -> str | None:
    c = candidate(question_info(question), sentence, question)
    return None if c is None else c.text


def _model(weights: dict[str, float], show_above: float) -> ShortAnswerModel:
    n = len(FEATURES)
    coef = np.array([weights.get(f, 0.0) for f in FEATURES])
    return ShortAnswerModel(LinearModel(FEATURES, np.zeros(n), np.ones(n), coef, 0.0), show_above)


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        (
            "Hvor mange millimeter nedbør falt?",
            "Så langt i november har det falt 51,1 millimeter nedbør i Bergen.",
            "51,1 millimeter",
        ),
        ("Når ble brua åpnet?", "Brua ble åpnet 8. august 2008 av kongen.", "8. august 2008"),
        ("Hvilket år ble fylket delt?", "Trøndelag ble delt i 1804 i to amt.", "1804"),
        (
            "Hvem åpnet brua?",
            "Brua ble åpnet av statsminister Erna Solberg i fjor.",
            "Erna Solberg",
        ),
        ("Hva tyder ryktene på?", "Ryktene tyder på høy grad av desperasjon.", None),
        (
            "Hvor publiserte han analysen?",
            "Han skrev en analyse i The Guardian i går.",
            "The Guardian",
        ),
        ("Hvor mange bor i Bergen?", "I Bergen bor det 285 000 mennesker.", "285 000 mennesker"),
    ],
)
def test_candidates(question: str, sentence: str, expected: str | None) -> None:
    assert _text(question, sentence) == expected


def test_who_skips_names_from_the_question() -> None:
    assert (
        _text("Hvem møtte Vladimir Putin?", "Vladimir Putin møtte Kim Jong-un i Vladivostok.")
        == "Kim Jong-un"
    )


def test_where_skips_places_from_the_question() -> None:
    assert (
        _text("Hvor i Russland møttes de?", "De møttes i Russland, nærmere bestemt i Vladivostok.")
        == "Vladivostok"
    )


def test_who_is_a_named_person_asks_for_a_description() -> None:
    question = "Hvem er Sergej Radtsjenko?"
    sentence = "Radtsjenko, som er professor ved Johns Hopkins School, peker på det."
    assert _text(question, sentence) is None
    assert short_answer(question_info(question), sentence, question, (5.0, 1.0)) is None


def test_a_short_answer_is_shown_only_above_the_threshold() -> None:
    question = "Hvem åpnet brua?"
    sentence = "Brua ble åpnet av statsminister Erna Solberg i fjor."
    q = question_info(question)
    sure = _model({"margin": 1.0}, 0.9)
    found = short_answer(q, sentence, question, (6.0, 1.0), model=sure)
    assert found is not None and found.text == "Erna Solberg" and found.confidence >= 0.9
    assert sentence[found.offset : found.offset + len(found.text)] == found.text
    assert short_answer(q, sentence, question, (6.0, 5.5), model=sure) is None


def test_the_shipped_model_reads_and_is_strict() -> None:
    model = read_model()
    assert model is not None and model.model.names == FEATURES
    assert 0.0 < model.show_above < 1.0
    # a year is no age, and a country no expert: the shipped confidence says so
    cases = [
        (
            "Hvor gammel er Mette Frederiksen?",
            "Grunnloven fra 1848 ga Danmark et demokrati, sa Mette Frederiksen.",
            "1848",
        ),
        (
            "Hvem er eksperten?",
            "Russland har kjøpt våpen fra Nord-Korea, mener eksperten.",
            "Nord-Korea",
        ),
    ]
    for question, sentence, span in cases:
        q = question_info(question)
        found = candidate(q, sentence, question)
        assert found is not None and found.text == span  # a span is found ...
        assert confidence(q, sentence, question, found, (4.0, 3.0), 0.5) < model.show_above
        assert short_answer(q, sentence, question, (4.0, 3.0), 0.5) is None  # ... not shown
