"""The listwise loss with a null option, and the null logit it starts from.

The gold sentence is scored against its hard negatives and the null; the same list without
the gold against the null (the question asked of its own passage minus the answer); and the
top sentences of another document's passage against the null."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bot.training.reranker.batching import FrozenCache, TrainList
from bot.training.reranker.model import CrossEncoder
from bot.training.reranker.recipe import TrainSettings


def list_loss(
    model: CrossEncoder, items: Sequence[TrainList], cache: FrozenCache, settings: TrainSettings
) -> torch.Tensor:
    """The mean listwise loss over a batch of questions (one forward over all their pairs)."""
    rows: list[tuple[int, ...]] = []
    first: list[float] = []
    for it in items:
        rows += [*it.own, *it.other]
        first += [*it.own_first, *it.other_first]
    hidden, mask = cache.batch(rows)
    scores = model.score_from(hidden, mask, settings.freeze_layers) + model.alpha * torch.tensor(
        first, dtype=torch.float32
    )
    null = model.null.reshape(1)
    total = scores.new_zeros(())
    at = 0
    for it in items:
        own = scores[at : at + len(it.own)]
        at += len(it.own)
        other = scores[at : at + len(it.other)]
        at += len(it.other)
        gold = torch.tensor(it.gold)
        total = total + torch.logsumexp(torch.cat([own, null]), 0) - torch.logsumexp(own[gold], 0)
        if (~gold).any():
            total = total + settings.negative_weight * (
                torch.logsumexp(torch.cat([own[~gold], null]), 0) - null[0]
            )
        if len(other):
            total = total + settings.negative_weight * (
                torch.logsumexp(torch.cat([other, null]), 0) - null[0]
            )
    mean: torch.Tensor = total / len(items)
    return mean


def initial_null(items: Sequence[TrainList], negative_weight: float) -> float:
    """The null logit that minimises the loss when the lists are ranked by the first stage
    alone (the model's state at step 0): the null then starts on the scale of the first
    stage's scores instead of learning it step by step."""

    def loss(null: float) -> float:
        total = 0.0
        for it in items:
            own, gold = np.asarray(it.own_first), np.asarray(it.gold)
            total += _lse([*own, null]) - _lse(own[gold])
            if (~gold).any():
                total += negative_weight * (_lse([*own[~gold], null]) - null)
            if it.other_first:
                total += negative_weight * (_lse([*it.other_first, null]) - null)
        return total

    lo, hi = -30.0, 30.0
    for _ in range(60):  # golden-section search: the loss is convex in the null
        a, b = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return (lo + hi) / 2


def _lse(x: Sequence[float] | np.ndarray) -> float:
    a = np.asarray(x, dtype=np.float64)
    m = float(a.max())
    return m + float(np.log(np.exp(a - m).sum()))
