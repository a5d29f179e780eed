"""Monitoring during fine-tuning: the cross-encoder's figures on validation lists (never
used to choose anything)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bot.training.reranker.batching import PairEncoder, padded
from bot.training.reranker.candidates import CandidateList
from bot.training.reranker.model import CrossEncoder


def score_pairs(
    model: CrossEncoder, rows: Sequence[Sequence[int]], pad: int, batch: int = 32
) -> np.ndarray:
    """Scores of many pairs, batched by length (no gradients)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros(len(rows), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            ids, mask = padded([rows[i] for i in idx], pad)
            out[idx] = model(ids, mask).numpy()
    return out


def validation_figures(
    model: CrossEncoder, lists: Sequence[CandidateList], pairs: PairEncoder, pad: int
) -> dict[str, float]:
    """Monitoring only: hit@1 of the cross-encoder over the first stage's top k, the first
    stage's own hit@1 over the same lists, and how often the null wins the list without the
    gold (same-topic) and with it (a false abstention)."""
    model.eval()
    rows = [pairs.pair(c.question, s) for c in lists for s in c.sentences]
    scores = score_pairs(model, rows, pad)
    null = float(model.null.detach())
    alpha = float(model.alpha.detach())
    hits = ce_hits = first = null_wins_pos = null_wins_same = 0
    at = 0
    answerable = 0
    for c in lists:
        ce = scores[at : at + len(c.sentences)]
        at += len(c.sentences)
        if not c.gold.any():
            continue
        s = ce + alpha * c.first_stage
        answerable += 1
        hits += bool(c.gold[int(np.argmax(s))])
        ce_hits += bool(c.gold[int(np.argmax(ce))])
        first += bool(c.gold[0])
        null_wins_pos += bool(null > s.max())
        rest = s[~c.gold]
        null_wins_same += bool(len(rest) == 0 or null > rest.max())
    model.train()
    n = max(answerable, 1)
    return {
        "val_hit_at_1": hits / n,
        "val_ce_alone_hit_at_1": ce_hits / n,
        "val_first_stage_hit_at_1": first / n,
        "alpha": alpha,
        "val_null_wins_answerable": null_wins_pos / n,
        "val_null_wins_same_topic": null_wins_same / n,
        "val_questions": answerable,
    }
