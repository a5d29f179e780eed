"""The route weight: fitted by `articlebot train-route`, read by the query path from a file."""

from __future__ import annotations

import json
from importlib import resources

from bot.routing import answerable_weight
from bot.training.route import WEIGHTS, Seen, best_weight, choose, figures


def _seen(own: bool, nearest: float, answerable: float, hit: bool, abstain: bool = False) -> Seen:
    return Seen(own=own, nearest=nearest, answerable=answerable, abstain=abstain, hit=hit)


def test_the_query_path_reads_the_weight_train_route_writes() -> None:
    data = json.loads((resources.files("bot") / "data" / "route.json").read_text("utf-8"))
    assert answerable_weight() == data["answerable_weight"]
    assert data["answerable_weight"] in WEIGHTS


def test_choose_prefers_an_answering_article_then_the_route_score() -> None:
    near_abstains = _seen(False, 0.9, 0.1, False, abstain=True)
    own = _seen(True, 0.8, 0.9, True)
    assert choose([near_abstains, own], 0.0) is own
    other = _seen(False, 0.85, 0.1, False)
    assert choose([other, own], 0.0) is other  # by cosine alone
    assert choose([other, own], 0.1) is own  # answerability tips it


def test_the_fitted_weight_is_the_one_that_finds_the_own_article() -> None:
    # the nearest article is a sibling that answers badly; the own one is a little farther
    rows = [[_seen(False, 0.85, 0.2, False), _seen(True, 0.83, 0.9, True)]] * 3
    assert figures(rows, 2, 0.0) == (0.0, 0.0)
    weight = best_weight(rows, 2)
    assert weight > 0 and figures(rows, 2, weight) == (1.0, 1.0)
    assert weight == min(w for w in WEIGHTS if figures(rows, 2, w) == (1.0, 1.0))
    assert best_weight(rows, 1) == 0.0  # one candidate: nothing to choose, the smallest
