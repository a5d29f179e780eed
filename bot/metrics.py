"""Metrics over scored items: retrieval (hit@k, MRR), citations, answers, abstention, latency.

Denominators are explicit: retrieval metrics are over answerable items with an abstention
counting as a miss; an item that errored scores 0; a metric with nothing to compute is None
(null in JSON), never NaN.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HEADLINE = ("hit_at_1", "hit_at_3", "mrr", "citation_precision", "citation_recall",
            "citation_f1", "exact_match", "f1", "abstention_precision", "abstention_recall",
            "abstention_f1", "false_abstention_rate", "coverage", "latency_ms_p50",
            "latency_ms_p95")


@dataclass(frozen=True)
class Scored:
    """One item's outcome, reduced to what the metrics need."""

    answerable: bool
    abstained: bool
    error: bool
    gold_ranks: tuple[int, ...]  # 1-based ranks of gold sentences in the ranking
    cited_gold: tuple[bool, ...]  # per citation shown as support: is it gold?
    n_gold: int  # gold sentences in the article
    gold_cited: int  # distinct gold sentences among the citations
    has_gold: bool  # the item has gold to score citations against
    exact_match: float | None
    f1: float | None
    latency_ms: float | None


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation, Norwegian-aware: NFC, lower-case, every Unicode
    punctuation mark (« » – — included) removed, whitespace folded; no article stripping."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") or ch in string.punctuation
                   else ch for ch in text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for g in golds:
        gold = normalize_answer(g).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def compute(items: Sequence[Scored]) -> dict[str, float | None]:
    """The headline metrics of DESIGN.md over scored items."""
    answerable = [s for s in items if s.answerable]
    unanswerable = [s for s in items if not s.answerable]

    def hit(s: Scored, k: int) -> float:
        return float(not s.error and not s.abstained and any(r <= k for r in s.gold_ranks))

    def rr(s: Scored) -> float:
        if s.error or s.abstained or not s.gold_ranks:
            return 0.0
        return 1.0 / min(s.gold_ranks)

    scorable = [s for s in answerable if s.has_gold]
    precisions = [(sum(s.cited_gold) / len(s.cited_gold)) if s.cited_gold and not s.error
                  else 0.0 for s in scorable]
    recalls = [(s.gold_cited / s.n_gold) if s.n_gold and not s.error else 0.0
               for s in scorable]
    cp, cr = _mean(precisions), _mean(recalls)

    ems = [0.0 if s.error or s.exact_match is None else s.exact_match
           for s in answerable if s.exact_match is not None or s.error]
    f1s = [0.0 if s.error or s.f1 is None else s.f1
           for s in answerable if s.f1 is not None or s.error]

    abstained = [s for s in items if s.abstained and not s.error]
    true_abst = sum(1 for s in abstained if not s.answerable)
    ap = (true_abst / len(abstained)) if abstained else None
    ar = (sum(1 for s in unanswerable if s.abstained and not s.error) / len(unanswerable)
          if unanswerable else None)
    latencies = [s.latency_ms for s in items if s.latency_ms is not None and not s.error]
    return {
        "hit_at_1": _mean([hit(s, 1) for s in scorable]),
        "hit_at_3": _mean([hit(s, 3) for s in scorable]),
        "mrr": _mean([rr(s) for s in scorable]),
        "citation_precision": cp,
        "citation_recall": cr,
        "citation_f1": _f1(cp, cr),
        "exact_match": _mean(ems),
        "f1": _mean(f1s),
        "abstention_precision": ap,
        "abstention_recall": ar,
        "abstention_f1": _f1(ap, ar),
        "false_abstention_rate": _mean([float(s.abstained or s.error) for s in answerable]),
        "coverage": _mean([float(not s.abstained and not s.error) for s in items]),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else None,
    }
