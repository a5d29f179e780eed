"""The span reader: token spans cut from the text itself, the best span inside the sentence,
and the shipped head reading the bundled article's answers off the cross-encoder's rows."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.eval.metrics import token_f1
from bot.ranking.crossencoder import CrossEncoderScorer, load_scorer
from bot.ranking.e5file import E5File, default_path
from bot.ranking.e5tokenizer import E5Tokenizer
from bot.ranking.features import question_info
from bot.ranking.reader import OUTSIDE, Reading, best_span


@functools.cache
def _tokenizer() -> E5Tokenizer:
    return E5Tokenizer(E5File(default_path()))


@pytest.fixture(scope="module")
def tokenizer() -> E5Tokenizer:
    return _tokenizer()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> CrossEncoderScorer:
    return load_scorer(cache_dir=tmp_path_factory.mktemp("completed"))


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet="abcæøåKim-12.,«» \t\n", min_size=1, max_size=40).filter(
        lambda t: t[0] not in " \t\n"
    )
)
def test_token_spans_are_the_text_itself(text: str) -> None:
    tok = _tokenizer()
    ids, spans = tok.content_spans(text)
    assert ids == tok.content_ids(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    # in order, each token's characters right after the last's (the text's first token may
    # be a lone word-start marker, which shares the first character)
    assert all(spans[i][1] <= spans[i + 1][0] + 1 for i in range(len(spans) - 1))
    assert all(spans[i][0] <= spans[i + 1][0] for i in range(len(spans) - 1))
    assert spans[-1][1] == len(text.rstrip(" \t\n")) or text.endswith((" ", "\t", "\n"))


def test_unknown_characters_get_a_span_each(tokenizer: E5Tokenizer) -> None:
    ids, spans = tokenizer.content_spans("Kim 𓀀𓀁 Jong")
    unk = [s for i, s in zip(ids, spans, strict=True) if i == tokenizer.unk]
    assert unk == [(4, 5), (5, 6)]


def _reading(sentence: str, spans: list[tuple[int, int]]) -> Reading:
    return Reading(sentence, np.zeros((len(spans), 4), dtype=np.float32), tuple(spans))


def test_the_best_span_stays_inside_the_sentence_and_drops_the_leading_space() -> None:
    sentence = "Det var The New York Times."
    # <s>, a question token, </s>, then the sentence's tokens, </s>
    spans = [
        OUTSIDE,
        OUTSIDE,
        OUTSIDE,
        (0, 3),
        (3, 7),
        (7, 11),
        (11, 15),
        (15, 20),
        (20, 26),
        (26, 27),
        OUTSIDE,
    ]
    start = np.full(len(spans), -5.0)
    end = np.full(len(spans), -5.0)
    start[1], end[1] = 9.0, 9.0  # a question token: never a span
    start[5], end[8] = 4.0, 4.0  # " The" ... " Times"
    span = best_span(start, end, _reading(sentence, spans), max_tokens=30)
    assert span is not None and sentence[span.start : span.end] == "The New York Times"
    assert span.tokens == 4 and span.margin == pytest.approx(8.0 - (-10.0))
    # too long a span is not taken: the best one within the limit is
    short = best_span(start, end, _reading(sentence, spans), max_tokens=2)
    assert short is not None and short.tokens <= 2


def test_no_sentence_token_no_span() -> None:
    reading = _reading("x", [OUTSIDE, OUTSIDE])
    assert best_span(np.zeros(2), np.zeros(2), reading, 30) is None


@pytest.mark.parametrize(
    ("question", "sentence", "answer"),
    [
        (
            "Hvilken avis meldte først om reisen?",
            "Det var The New York Times som først meldte at Nord-Koreas leder Kim Jong-un "
            "planla å reise til Russland i løpet av september for et møte med landets "
            "president Vladimir Putin.",
            "The New York Times",
        ),
        (
            "Hvem besøkte Nord-Korea i sommer?",
            "Tidligere i sommer var Russlands forsvarsminister Sergej Sjojgu på besøk i "
            "Nord-Korea, hvor han ble fremvist Pyongyangs nyeste våpenmodeller.",
            "Sergej Sjojgu",
        ),
    ],
)
def test_the_shipped_reader_finds_the_answer_in_its_sentence(
    scorer: CrossEncoderScorer, question: str, sentence: str, answer: str
) -> None:
    assert scorer.reader is not None
    _, (reading,) = scorer.score_rows(question, [sentence])
    span = scorer.reader.span(reading)
    assert span is not None
    # the answer, give or take a word or two around it (a title, an article)
    assert token_f1(sentence[span.start : span.end], [answer]) >= 0.5
    read = scorer.reader.read(reading, question_info(question), 0.9)
    assert read is None or sentence[read.start : read.end] == sentence[span.start : span.end]


def test_rows_are_the_pairs_scores_came_from(scorer: CrossEncoderScorer) -> None:
    sentences = ["Været var fint.", "Kim Jong-un skal møte Putin i Russland."]
    scores, readings = scorer.score_rows("Hvem skal Kim møte?", sentences)
    assert np.allclose(scores, scorer.score("Hvem skal Kim møte?", sentences), atol=1e-5)
    for sentence, reading in zip(sentences, readings, strict=True):
        assert reading.sentence == sentence
        assert reading.hidden.shape == (len(reading.spans), 384)
        inside = [s for s in reading.spans if s != OUTSIDE]
        assert "".join(sentence[a:b] for a, b in inside) == sentence
