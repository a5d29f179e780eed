"""Metric functions: table-driven cases with hand-computed values, the edge cases, the
bootstrap, and the metamorphic property that failing items never help any metric."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.eval.metrics import (
    HEADLINE,
    LOWER_IS_BETTER,
    Scored,
    compute,
    confidence_intervals,
    denominators,
    exact_match,
    hit_curve,
    normalize_answer,
    threshold_sweep,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("«Vladimir Putin»", "vladimir putin"),
        ("Nord-Korea", "nordkorea"),
        ("  Det   er\tbra.\n", "det er bra"),
        ("2 – 3 millimeter", "2 3 millimeter"),
        ("Russland — og Kina", "russland og kina"),
        ("The Guardian", "guardian"),  # articles dropped, as SQuAD does
        ("a Guardian", "guardian"),
        ("en bil og ei ku og et hus", "bil og ku og hus"),
        ("bla\u030a", "blå"),  # NFD å becomes NFC
        ("ÆØÅ", "æøå"),
        ("Kim Jong-un’s «plan»!", "kim jonguns plan"),
        ("„Sitat“ ‚x‘ (y) [z] {w}", "sitat x y z w"),
        ("—", ""),
        ("", ""),
        ("51,1 mm", "511 mm"),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Putin", ["Vladimir Putin", "Putin"], 1.0),
        ("putin.", ["Putin"], 1.0),
        ("«Russland»", ["Russland"], 1.0),
        ("Vladimir", ["Putin"], 0.0),
        ("the Guardian", ["Guardian"], 1.0),  # articles dropped
        ("en bil", ["bil"], 1.0),
        ("Nord Korea", ["Nord-Korea"], 0.0),  # the hyphen is removed, not made a space
        ("Putin", [], 0.0),
        ("", [""], 1.0),
    ],
)
def test_exact_match(prediction: str, golds: list[str], expected: float) -> None:
    assert exact_match(prediction, golds) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Vladimir Putin", ["Putin"], 2 / 3),  # p 1/2, r 1
        ("høy grad av desperasjon", ["desperasjon i Kreml"], 2 / 7),  # p 1/4, r 1/3
        ("x b", ["x", "x b c"], 0.8),  # best gold: p 1, r 2/3
        ("x x b", ["x b b"], 2 / 3),  # common counts x:1 b:1
        ("x y", ["z"], 0.0),
        ("", [""], 1.0),
        ("", ["x"], 0.0),
        ("«»", ["x"], 0.0),
        ("x", [], 0.0),
        ("Putin.", ["putin"], 1.0),
    ],
)
def test_token_f1(prediction: str, golds: list[str], expected: float) -> None:
    assert token_f1(prediction, golds) == pytest.approx(expected)


def S(answerable: bool = True, **kw: object) -> Scored:
    """A Scored item; gold given as a set of ids."""
    if "gold" in kw:
        kw["gold"] = frozenset(kw["gold"])  # type: ignore[arg-type]
    return Scored(answerable=answerable, **kw)  # type: ignore[arg-type]


MIXED = [
    S(
        gold={"s1"},
        ranking=("s1", "s2", "s3"),
        cited=("s1",),
        exact_match=1.0,
        f1=1.0,
        latency_ms=10.0,
        confidence=0.9,
    ),
    S(
        gold={"s2", "s3"},
        ranking=("s1", "s2", "s3"),
        cited=("s1", "s2"),
        exact_match=0.0,
        f1=0.5,
        latency_ms=20.0,
        confidence=0.6,
    ),
    S(
        gold={"s4"},
        ranking=("s1", "s2", "s3", "s4"),
        abstained=True,
        exact_match=0.0,
        f1=0.0,
        latency_ms=30.0,
        confidence=0.3,
    ),
    S(False, ranking=("s1",), abstained=True, latency_ms=40.0, confidence=0.2),
    S(False, ranking=("s1",), cited=("s1",), latency_ms=50.0, confidence=0.8),
]

SHORT = ("short_answer_coverage", "short_answer_precision", "exact_match_shown", "f1_shown")
# the short-answer metrics have their own tests (tests/bot/eval/test_evaluation.py)
NONE = dict.fromkeys(name for name in HEADLINE if name not in SHORT)

CASES = {
    # hand-computed: see each value's comment
    "mixed": (
        MIXED,
        {
            "hit_at_1": 1 / 3,  # only the first item has gold at rank 1; the abstention misses
            "hit_at_3": 2 / 3,
            "mrr": (1 + 1 / 2 + 0) / 3,
            "citation_precision": (1 + 1 / 2 + 0) / 3,
            "citation_recall": (1 + 1 / 2 + 0) / 3,
            "citation_f1": 0.5,
            "exact_match": 1 / 3,
            "f1": (1 + 0.5 + 0) / 3,
            "abstention_precision": 1 / 2,  # abstained: item 3 (answerable), item 4 (right)
            "abstention_recall": 1 / 2,  # unanswerable: items 4 and 5
            "abstention_f1": 0.5,
            "false_abstention_rate": 1 / 3,
            "coverage": 3 / 5,
            "latency_ms_p50": 30.0,
            "latency_ms_p95": 48.0,  # linear: 40 + 0.8 * 10
        },
    ),
    "all abstained": (
        [
            S(gold={"s1"}, ranking=("s1",), abstained=True, exact_match=0.0, f1=0.0),
            S(gold={"s2"}, ranking=("s2",), abstained=True, exact_match=0.0, f1=0.0),
            S(False, abstained=True),
        ],
        {
            **NONE,
            "hit_at_1": 0.0,
            "hit_at_3": 0.0,
            "mrr": 0.0,
            "citation_precision": 0.0,
            "citation_recall": 0.0,
            "citation_f1": 0.0,
            "exact_match": 0.0,
            "f1": 0.0,
            "abstention_precision": 1 / 3,
            "abstention_recall": 1.0,
            "abstention_f1": 0.5,
            "false_abstention_rate": 1.0,
            "coverage": 0.0,
        },
    ),
    "no gold": (
        [
            S(ranking=("s1",), cited=("s1",), latency_ms=5.0),
            S(ranking=("s2",), cited=("s2",), latency_ms=7.0),
        ],
        {
            **NONE,
            "false_abstention_rate": 0.0,
            "coverage": 1.0,
            "latency_ms_p50": 6.0,
            "latency_ms_p95": 6.9,
        },
    ),
    "empty predictions": ([], NONE),
    "duplicate citations and ranks": (
        [
            S(gold={"s1"}, ranking=("s1", "s1", "s2"), cited=("s1", "s1", "s2")),
            S(gold={"s1"}, ranking=("s2", "s2", "s1"), cited=("s2", "s2")),
        ],
        {
            **NONE,
            "hit_at_1": 0.5,
            "hit_at_3": 1.0,
            "mrr": (1 + 1 / 3) / 2,
            "citation_precision": (1 / 2 + 0) / 2,  # a sentence cited twice counts once
            "citation_recall": (1 + 0) / 2,
            "citation_f1": 2 * 0.25 * 0.5 / 0.75,
            "false_abstention_rate": 0.0,
            "coverage": 1.0,
        },
    ),
    "errors score 0": (
        [
            S(gold={"s1"}, ranking=("s1",), cited=("s1",), exact_match=1.0, f1=1.0),
            S(gold={"s1"}, error=True, exact_match=0.0, f1=0.0),
            S(error=True),  # failed before its gold was known: still a miss
            S(False, error=True),
        ],
        {
            **NONE,
            "hit_at_1": 1 / 3,
            "hit_at_3": 1 / 3,
            "mrr": 1 / 3,
            "citation_precision": 1 / 3,
            "citation_recall": 1 / 3,
            "citation_f1": 1 / 3,
            "exact_match": 1 / 2,
            "f1": 1 / 2,
            "abstention_precision": 0.0,
            "abstention_recall": 0.0,
            "abstention_f1": 0.0,
            "false_abstention_rate": 2 / 3,
            "coverage": 1 / 4,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compute(case: str) -> None:
    items, expected = CASES[case]
    got = compute(items)
    assert list(got) == list(HEADLINE)
    for name in expected:
        if expected[name] is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(expected[name]), name
    json.dumps(got, allow_nan=False)  # null, never NaN


def test_denominators() -> None:
    d = denominators(MIXED)
    assert d["hit_at_1"] == d["citation_f1"] == d["exact_match"] == 3
    assert d["abstention_precision"] == 2 and d["abstention_recall"] == 2
    assert d["false_abstention_rate"] == 3 and d["coverage"] == 5
    assert d["latency_ms_p95"] == 5


def test_answerable_item_without_gold_answers_stays_out_of_em() -> None:
    items = [S(gold={"s1"}, ranking=("s1",), exact_match=1.0, f1=1.0), S(gold={"s1"})]
    got = compute(items)
    assert got["exact_match"] == 1.0 and denominators(items)["exact_match"] == 1
    assert got["hit_at_1"] == 0.5  # the second item answered without ranking its gold


def test_confidence_intervals() -> None:
    half = [
        S(gold={"s1"}, ranking=("s1",) if i % 2 else ("s2",), latency_ms=float(i))
        for i in range(200)
    ]
    ci = confidence_intervals(half, seed=0)
    assert ci == confidence_intervals(half, seed=0)  # seeded
    assert ci != confidence_intervals(half, seed=1)
    low, high = ci["hit_at_1"]  # type: ignore[misc]
    assert 0.38 < low < 0.5 < high < 0.62
    assert ci["exact_match"] is None and ci["abstention_recall"] is None
    low, high = ci["latency_ms_p50"]  # type: ignore[misc]
    assert low <= 99.5 <= high
    for name in HEADLINE:
        if ci[name] is not None and not name.startswith("latency"):
            assert 0.0 <= ci[name][0] <= ci[name][1] <= 1.0  # type: ignore[index]
    perfect = [S(gold={"s1"}, ranking=("s1",)) for _ in range(30)]
    assert confidence_intervals(perfect)["hit_at_1"] == [1.0, 1.0]
    assert confidence_intervals([]) == dict.fromkeys(HEADLINE)  # every metric, short ones too


def test_hit_curve() -> None:
    curve = hit_curve(MIXED, k_max=5)
    assert [(k, round(v, 6)) for k, v, _ in curve] == [
        (1, round(1 / 3, 6)),
        (2, round(2 / 3, 6)),
        (3, round(2 / 3, 6)),
        (4, round(2 / 3, 6)),
        (5, round(2 / 3, 6)),
    ]  # the abstention never counts
    assert hit_curve([S(False)]) == []


def test_threshold_sweep() -> None:
    items = [
        S(gold={"a"}, ranking=("a",), confidence=0.9),
        S(gold={"a"}, ranking=("b", "a"), confidence=0.5),
        S(False, ranking=("a",), confidence=0.7),
    ]
    by_t = {p.threshold: p for p in threshold_sweep(items, points=2)}
    p = by_t[0.7]  # answers items 1 and 3
    assert p.coverage == pytest.approx(2 / 3) and p.risk == pytest.approx(0.5)
    assert p.abstention_precision == 0.0 and p.abstention_recall == 0.0
    assert p.false_abstention_rate == 0.5
    p = by_t[0.9]  # answers item 1 only
    assert p.coverage == pytest.approx(1 / 3) and p.risk == 0.0
    assert p.abstention_precision == 0.5 and p.abstention_recall == 1.0
    top = threshold_sweep(items, points=2)[-1]  # above every score: all abstain
    assert top.coverage == 0.0 and top.risk is None and top.false_abstention_rate == 1.0


# -- metamorphic: making k items fail never improves a metric --------------------------------

IDS = ("s1", "s2", "s3", "s4", "s5", "s6")
ids = st.sampled_from(IDS)
maybe_score = st.one_of(st.none(), st.floats(0, 1))


@st.composite
def scored(draw: st.DrawFn) -> Scored:
    answerable = draw(st.booleans())
    has_answers = answerable and draw(st.booleans())
    return Scored(
        answerable=answerable,
        abstained=draw(st.booleans()),
        error=draw(st.booleans()),
        gold=frozenset(draw(st.sets(ids, max_size=2))) if answerable else frozenset(),
        ranking=tuple(draw(st.lists(ids, max_size=5))),
        cited=tuple(draw(st.lists(ids, max_size=3))),
        exact_match=draw(st.sampled_from([0.0, 1.0])) if has_answers else None,
        f1=draw(st.floats(0, 1)) if has_answers else None,
        latency_ms=draw(st.one_of(st.none(), st.floats(1, 1000))),
        confidence=draw(maybe_score),
    )


def fail(s: Scored, how: str) -> Scored:
    """The same item, failed: an error keeps what the item is (gold, answers, time)."""
    if how == "error":
        return replace(s, error=True)
    return replace(s, error=True, abstained=False, ranking=(), cited=())  # empty / timeout


def _no_better(name: str, before: float | None, after: float | None) -> bool:
    if before is None:
        return True
    if after is None:
        return False  # a failure must never take an item out of a denominator
    if name.startswith("latency"):
        return after == before  # the failed call's time still counts
    if name in LOWER_IS_BETTER:
        return after >= before - 1e-12
    return after <= before + 1e-12


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(scored(), min_size=1, max_size=12),
    data=st.data(),
    how=st.sampled_from(["error", "empty"]),
)
def test_failing_items_never_raise_a_metric(
    items: list[Scored], data: st.DataObject, how: str
) -> None:
    before = compute(items)
    k = data.draw(st.integers(1, len(items)))
    chosen = data.draw(st.permutations(range(len(items))))[:k]
    failed = [fail(s, how) if i in chosen else s for i, s in enumerate(items)]
    after = compute(failed)
    for name in HEADLINE:
        assert _no_better(name, before[name], after[name]), (name, before[name], after[name])
        assert after[name] is None or math.isfinite(after[name])  # type: ignore[arg-type]


def test_failing_more_items_is_monotone() -> None:
    """k = 0, 1, 2, ... failures on a real-looking list: every quality metric falls or
    stays, step by step."""
    items = MIXED * 3
    previous = compute(items)
    for k in range(1, len(items) + 1):
        current = compute([fail(s, "error") if i < k else s for i, s in enumerate(items)])
        for name in HEADLINE:
            assert _no_better(name, previous[name], current[name]), (k, name)
        previous = current
    assert previous["hit_at_1"] == 0.0 and previous["coverage"] == 0.0
