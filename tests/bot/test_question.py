"""Questions: whatever is pasted, cleaned or refused before any model sees it.

docs/reliability-plan.md rows 12 (empty / invisible-only), 13 (oversized), 14 (control characters,
NUL, bidi, tags, lone surrogates) and 17 (NFC vs NFD, emoji, homoglyphs) at the engine and
CLI borders; the web border is in test_web.py.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from bot.question import clean_question
from bot.settings import Settings
from core.errors import QuestionError
from tests.conftest import run_cli

MAX = 2000
# What must never reach the embedder, the ranker or a prompt (besides being invisible).
FORBIDDEN = (
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [
        "\u00ad",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u200e",
        "\u200f",
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\ufeff",
    ]
    + [chr(c) for c in range(0xE0000, 0xE0080)]
)

NB_QUESTION = "Hva mener Radtsjenko at meldingene om møtet er et tegn på?"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\n\t",
        "\u200b\u200b",
        "\u00ad",
        "\x00\x00",
        "\u202e\u2066",
        "\U000e0041\U000e0042",
        "?!?",
        None,
        42,
    ],
)
def test_empty_or_invisible_only_is_a_friendly_error(raw: Any) -> None:
    with pytest.raises(QuestionError, match="question") as info:
        clean_question(raw, MAX)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", [MAX + 1, 10_000, 100_000, 1_000_000])
def test_longer_than_the_maximum_is_refused(size: int) -> None:
    with pytest.raises(QuestionError, match=f"at most {MAX} characters"):
        clean_question("Hvem " + "x" * size, MAX)


def test_the_limit_counts_the_cleaned_question() -> None:
    # invisible padding does not push a real question over the limit
    assert clean_question("Hvem?" + "\u200b" * (MAX * 2), MAX) == "Hvem?"
    assert len(clean_question("x" * MAX, MAX)) == MAX


def test_controls_bidi_tags_and_nul_are_removed_and_nfd_becomes_nfc() -> None:
    raw = "Hvem er\x00 Sergej \x1b[2J\u202eRadtsjenko\U000e0041\u200b?\r\n"
    assert clean_question(raw, MAX) == "Hvem er Sergej Radtsjenko?"  # the escape goes whole
    nfd = unicodedata.normalize("NFD", NB_QUESTION)
    assert nfd != NB_QUESTION and clean_question(nfd, MAX) == NB_QUESTION


def test_lone_surrogate_is_a_clean_error() -> None:
    with pytest.raises(QuestionError, match="surrogate"):
        clean_question("Hvem er \ud800?", MAX)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
    | st.lists(st.sampled_from([*FORBIDDEN, "a", "ø", " ", "\n", "å", "\u0301"]), max_size=40).map(
        "".join
    )
)
def test_any_question_is_clean_or_refused(raw: str) -> None:
    try:
        cleaned = clean_question(raw, MAX)
    except QuestionError:
        return
    assert cleaned
    assert not any(ch in cleaned for ch in FORBIDDEN)
    assert "\n" not in cleaned and cleaned == cleaned.strip()
    assert unicodedata.is_normalized("NFC", cleaned)
    assert clean_question(cleaned, MAX) == cleaned  # idempotent


# -- through the engine (real store, real models) -------------------------------------------


@pytest.fixture(scope="module")
def engine(shared_store: Path) -> Engine:
    return Engine(Settings(store=shared_store))


def _record(engine: Engine, question: str) -> dict[str, Any]:
    record = engine.ask(question, "article").to_record()
    record.pop("timings_ms")
    return record


@pytest.mark.parametrize(
    "question",
    [
        NB_QUESTION,
        "Hvem skal Kim Jong-un møte i Russland?",
        "Hvilke land har lagt ned veto mot nye resolusjoner?",
        "Hvor ble Sjojgu vist rundt i Nord-Korea?",
    ],
)
def test_nfc_and_nfd_spellings_give_the_same_answer(engine: Engine, question: str) -> None:
    nfd = unicodedata.normalize("NFD", question)
    assert _record(engine, nfd) == _record(engine, question)


def test_stripped_characters_do_not_change_the_answer(engine: Engine) -> None:
    plain = _record(engine, "Hvem er Sergej Radtsjenko?")
    for noisy in (
        "Hvem er\x00 Sergej Radtsjenko?",
        "Hvem er \u202eSergej\u202c Radtsjenko?",
        "Hvem er Ser\u200bgej Radtsjenko?\U000e0041\U000e007f",
        "\ufeffHvem er Sergej Radtsjenko?",
    ):
        assert _record(engine, noisy) == plain


def test_refused_questions_touch_no_store_and_no_model(tmp_path: Path) -> None:
    store = tmp_path / "never-created"
    engine = Engine(Settings(store=store))
    for raw in ("", "\u200b", "x" * 1_000_000):
        with pytest.raises(QuestionError):
            engine.ask(raw, "article")
    assert not store.exists()  # nothing was opened, indexed or embedded


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(
        st.sampled_from(
            [
                "Hvem",
                "er",
                "Radtsjenko",
                "Putin",
                "Kim",
                "møtet",
                "🙂",
                "Nоrge",
                "русский",
                "北朝鲜",
                "مرحبا",
                "?",
            ]
        ),
        min_size=1,
        max_size=8,
    ),
    noise=_TEXT,
)
def test_any_answer_cites_verbatim_article_sentences(
    engine: Engine, words: list[str], noise: str
) -> None:
    """Emoji, homoglyphs (Cyrillic o), RTL and CJK never shift or invent a citation."""
    try:
        answer = engine.ask(" ".join(words) + " " + noise, "article")
    except QuestionError:
        return
    text = engine.store.article("article").text
    ids = {s.id for s in engine.answerer("article").sentences}
    for c in answer.citations:
        assert text[c.sentence.start : c.sentence.end] == c.sentence.text
        assert c.sentence.id in ids
    assert answer.abstained or answer.citations


# -- through the CLI --------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", " \u200b ", "x" * 10_000, "x" * 100_000])
def test_cli_refuses_before_any_work(
    question: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (1M characters cannot go through argv: Linux caps one argument at 128 KiB)
    store = tmp_path / "store"
    r = run_cli(["ask", question, "--json", "--store", str(store)], cli_env, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert ("too long" in r.stderr) == (len(question) > MAX)
    assert not store.exists()  # refused before the store was opened or a model loaded


def test_cli_nfd_question_answers_like_nfc(shared_store: Path, cli_env: dict[str, str]) -> None:
    out = []
    for q in (NB_QUESTION, unicodedata.normalize("NFD", NB_QUESTION)):
        r = run_cli(["ask", q, "--json", "--store", str(shared_store)], cli_env, timeout=120)
        assert r.returncode == 0, r.stderr
        record = json.loads(r.stdout)
        record.pop("timings_ms")
        out.append(record)
    assert out[0] == out[1]


@pytest.mark.parametrize(
    "raw",
    [
        "Hvem er \x1b[2JSergej \x1b[31mRadtsjenko\x1b[0m?",
        "Hvem er \x1b]0;a title\x07Sergej Radtsjenko?",
        "\x1b[1;32mHvem er Sergej Radtsjenko?\x1b[m",
    ],
)
def test_terminal_escape_sequences_go_whole(raw: str) -> None:
    assert clean_question(raw, 2000) == "Hvem er Sergej Radtsjenko?"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("Hvem er <b>Sergej Radtsjenko</b>?", "Hvem er Sergej Radtsjenko?"),
        ('Hvem er <span class="x">Sergej</span> <i>Radtsjenko</i>?', "Hvem er Sergej Radtsjenko?"),
        (
            "Hvem er Sergej Radtsjenko?<br/><img src=x onerror=alert(1)>",
            "Hvem er Sergej Radtsjenko?",
        ),
        ("Hvem er <!-- en kommentar -->Sergej Radtsjenko?", "Hvem er Sergej Radtsjenko?"),
        ("Er 3 < 4 og 5 > 2?", "Er 3 < 4 og 5 > 2?"),  # comparisons are not tags
        ("Hva betyr a<b?", "Hva betyr a<b?"),
    ],
)
def test_html_tags_in_a_question_go(raw: str, cleaned: str) -> None:
    assert clean_question(raw, 2000) == cleaned


def test_a_question_of_tags_alone_is_empty() -> None:
    with pytest.raises(QuestionError):
        clean_question("<b></b><img src=x>", 2000)


def test_tags_in_a_question_do_not_change_the_answer(engine: Engine) -> None:
    plain = _record(engine, "Hvem er Sergej Radtsjenko?")
    assert not plain["abstained"]
    for tagged in (
        "Hvem er <b>Sergej Radtsjenko</b>?",
        "Hvem er <em>Sergej</em> <a href='x'>Radtsjenko</a>?",
    ):
        assert _record(engine, tagged) == plain
