"""Metrics over scored items: retrieval (hit@k, MRR), citations, answers, abstention, latency.

Every ratio metric is a sum of per-item numerators over a sum of per-item denominators, so
the denominators are explicit and the bootstrap can resample items:

- hit@k, MRR, citation precision/recall: answerable items that have gold sentences (and
  every answerable item that errored, whose gold may be unknown); an abstention or an
  error is a miss (0).
- exact match, F1: answerable items with gold answers; an abstention or an error scores 0.
- abstention precision: items that abstained or errored (an error is a wrong abstention);
  abstention recall: unanswerable items; false abstention rate: answerable items (an error
  counts as a false abstention); coverage: all items (answered = neither abstained nor
  errored).
- latency: over the items that reached the answer call (its time, not indexing).

An item that errors scores 0 and never leaves a denominator; a metric whose denominator is
empty is None (null in JSON), never NaN.
"""

from __future__ import annotations

import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HEADLINE = (
    "hit_at_1",
    "hit_at_3",
    "mrr",
    "citation_precision",
    "citation_recall",
    "citation_f1",
    "exact_match",
    "f1",
    "abstention_precision",
    "abstention_recall",
    "abstention_f1",
    "false_abstention_rate",
    "coverage",
    "latency_ms_p50",
    "latency_ms_p95",
    "short_answer_coverage",
    "short_answer_precision",
    "exact_match_shown",
    "f1_shown",
)

# Metrics where lower is better (a failing item may raise them, never lower them).
LOWER_IS_BETTER = frozenset({"false_abstention_rate", "latency_ms_p50", "latency_ms_p95"})

# The ratio metrics: each is sum(num) / sum(den) over items.
RATIOS = (
    "hit_at_1",
    "hit_at_3",
    "mrr",
    "citation_precision",
    "citation_recall",
    "exact_match",
    "f1",
    "abstention_precision",
    "abstention_recall",
    "false_abstention_rate",
    "coverage",
    "short_answer_coverage",
    "short_answer_precision",
    "exact_match_shown",
    "f1_shown",
)

# What each metric is over, for the report.
DENOMINATOR_TEXT = {
    "hit_at_1": "answerable items with gold sentences",
    "hit_at_3": "answerable items with gold sentences",
    "mrr": "answerable items with gold sentences",
    "citation_precision": "answerable items with gold sentences",
    "citation_recall": "answerable items with gold sentences",
    "citation_f1": "answerable items with gold sentences",
    "exact_match": "answerable items with gold answers",
    "f1": "answerable items with gold answers",
    "abstention_precision": "items that abstained or errored",
    "abstention_recall": "unanswerable items",
    "abstention_f1": "abstained/errored and unanswerable items",
    "false_abstention_rate": "answerable items",
    "coverage": "all items",
    "latency_ms_p50": "items that reached the answer call",
    "latency_ms_p95": "items that reached the answer call",
    "short_answer_coverage": "answered (or failed) items",
    "short_answer_precision": "items with gold answers and a short answer shown (or failed)",
    "exact_match_shown": "items with gold answers and a short answer shown (or failed)",
    "f1_shown": "items with gold answers and a short answer shown (or failed)",
}

N_BOOTSTRAP = 1000
K_MAX = 5


@dataclass(frozen=True)
class Scored:
    """One item's outcome, reduced to what the metrics need."""

    answerable: bool
    abstained: bool = False
    error: bool = False
    gold: frozenset[str] = frozenset()  # ids of the gold sentences
    ranking: tuple[str, ...] = ()  # ranked sentence ids, best first
    cited: tuple[str, ...] = ()  # ids of the citations shown as support, in order
    exact_match: float | None = None  # None: the item has no gold answers
    f1: float | None = None
    latency_ms: float | None = None
    confidence: float | None = None  # the top ranking score (for the abstention sweep)
    # the short answer shown (None: none was), scored against the gold answers when the item
    # has them: exact match, token F1, and right = equal to a gold answer or holding one
    # while at most twice as long
    short_shown: bool = False
    short_scores: tuple[float, float, float] | None = None
    short_confidence: float | None = None  # the shown short answer's confidence

    @property
    def answered(self) -> bool:
        """The bot gave an answer (did not abstain and did not fail)."""
        return not self.abstained and not self.error

    @property
    def gold_rank(self) -> int | None:
        """The 1-based rank of the first gold sentence in the ranking, if any."""
        for rank, sentence_id in enumerate(self.ranking, start=1):
            if sentence_id in self.gold:
                return rank
        return None


_ASCII_PUNCT = frozenset(string.punctuation)


# Dropped as SQuAD drops English articles, with the Norwegian ones beside them.
_ARTICLES = frozenset({"en", "ei", "et", "a", "an", "the"})


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation, Norwegian-aware: NFC, lower-case, every Unicode
    punctuation mark (« » – — included) and ASCII punctuation removed, the articles en, ei,
    et, a, an and the dropped, whitespace folded."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(
        "" if ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text
    )
    return " ".join(w for w in text.split() if w not in _ARTICLES)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer (0.0 without
    gold answers)."""
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer (SQuAD: an empty
    side scores 1 only against another empty side)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for g in golds:
        gold = normalize_answer(g).split()
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        same = sum((Counter(pred) & Counter(gold)).values())
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def short_right(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when a shown short answer is right: equal to a gold answer after normalisation,
    or holding one and at most twice as long (in characters, normalised)."""
    p = normalize_answer(prediction)
    for g in golds:
        gold = normalize_answer(g)
        if gold and (p == gold or (f" {gold} " in f" {p} " and len(p) <= 2 * len(gold))):
            return 1.0
    return 0.0


def in_retrieval(s: Scored) -> bool:
    """Whether the item counts in hit@k, MRR and the citation metrics."""
    return s.answerable and (bool(s.gold) or s.error)


def hit_at(s: Scored, k: int) -> float:
    """1.0 when a gold sentence is among the top k and the bot answered."""
    rank = s.gold_rank
    return float(s.answered and rank is not None and rank <= k)


def reciprocal_rank(s: Scored) -> float:
    """1 / rank of the first gold sentence; 0 for a miss, an abstention or an error."""
    rank = s.gold_rank
    return 1.0 / rank if s.answered and rank is not None else 0.0


def citation_pr(s: Scored) -> tuple[float, float]:
    """Citation precision and recall of one item; a sentence cited twice counts once, and
    an item with no supporting citation (abstained, errored) scores 0 on both."""
    if not s.answered:
        return 0.0, 0.0
    cited = set(s.cited)
    if not cited or not s.gold:
        return 0.0, 0.0
    correct = len(cited & s.gold)
    return correct / len(cited), correct / len(s.gold)


def item_terms(s: Scored) -> dict[str, tuple[float, float]]:
    """(numerator, denominator) of every ratio metric for one item."""
    retr = 1.0 if in_retrieval(s) else 0.0
    cp, cr = citation_pr(s)
    has_answers = 1.0 if s.answerable and s.exact_match is not None else 0.0
    em = 0.0 if not s.answered or s.exact_match is None else s.exact_match
    f1 = 0.0 if not s.answered or s.f1 is None else s.f1
    right_abstention = float(s.abstained and not s.error and not s.answerable)
    # a failed item stays in (or joins) these denominators with nothing to its credit, so a
    # failure never raises a metric
    shown = float(s.answered and s.short_shown)
    judged = float(
        (s.answered and s.short_shown and s.short_scores is not None)
        or (s.error and s.exact_match is not None)
    )
    short = s.short_scores if s.short_scores is not None and not s.error else (0.0, 0.0, 0.0)
    return {
        "hit_at_1": (retr * hit_at(s, 1), retr),
        "hit_at_3": (retr * hit_at(s, 3), retr),
        "mrr": (retr * reciprocal_rank(s), retr),
        "citation_precision": (retr * cp, retr),
        "citation_recall": (retr * cr, retr),
        "exact_match": (has_answers * em, has_answers),
        "f1": (has_answers * f1, has_answers),
        "abstention_precision": (right_abstention, float(s.abstained or s.error)),
        "abstention_recall": (right_abstention, float(not s.answerable)),
        "false_abstention_rate": (float(s.answerable and not s.answered), float(s.answerable)),
        "coverage": (float(s.answered), 1.0),
        "short_answer_coverage": (shown, float(s.answered or s.error)),
        "short_answer_precision": (judged * short[2], judged),
        "exact_match_shown": (judged * short[0], judged),
        "f1_shown": (judged * short[1], judged),
    }


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _arrays(items: Sequence[Scored]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Numerators and denominators as (metrics x items) arrays."""
    terms = [item_terms(s) for s in items]
    num = np.array([[t[m][0] for t in terms] for m in RATIOS], dtype=np.float64)
    den = np.array([[t[m][1] for t in terms] for m in RATIOS], dtype=np.float64)
    return num.reshape(len(RATIOS), len(items)), den.reshape(len(RATIOS), len(items))


def _latencies(items: Sequence[Scored]) -> npt.NDArray[np.float64]:
    return np.array([s.latency_ms for s in items if s.latency_ms is not None], dtype=np.float64)


def compute(items: Sequence[Scored]) -> dict[str, float | None]:
    """The headline metrics over scored items (None where undefined; docs/contracts.md)."""
    num, den = _arrays(items)
    out: dict[str, float | None] = {}
    for i, name in enumerate(RATIOS):
        d = float(den[i].sum())
        out[name] = float(num[i].sum()) / d if d > 0 else None
    out["citation_f1"] = _f1(out["citation_precision"], out["citation_recall"])
    out["abstention_f1"] = _f1(out["abstention_precision"], out["abstention_recall"])
    lat = _latencies(items)
    out["latency_ms_p50"] = float(np.percentile(lat, 50)) if lat.size else None
    out["latency_ms_p95"] = float(np.percentile(lat, 95)) if lat.size else None
    return {name: out[name] for name in HEADLINE}


def denominators(items: Sequence[Scored]) -> dict[str, int]:
    """How many items each headline metric is computed over."""
    _, den = _arrays(items)
    out = {name: int(den[i].sum()) for i, name in enumerate(RATIOS)}
    out["citation_f1"] = out["citation_precision"]
    out["abstention_f1"] = int(sum(1 for s in items if s.abstained or s.error or not s.answerable))
    n_lat = int(_latencies(items).size)
    out["latency_ms_p50"] = out["latency_ms_p95"] = n_lat
    return {name: out[name] for name in HEADLINE}


def _interval(samples: npt.NDArray[np.float64]) -> list[float] | None:
    valid = samples[np.isfinite(samples)]
    if not valid.size:
        return None
    low, high = np.percentile(valid, [2.5, 97.5])
    return [float(low), float(high)]


def _resample_ratios(
    num: npt.NDArray[np.float64],
    den: npt.NDArray[np.float64],
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Bootstrap sums of numerators and denominators: (metrics x n_boot) each."""
    n = num.shape[1]
    sums_num = np.zeros((num.shape[0], n_boot))
    sums_den = np.zeros((num.shape[0], n_boot))
    step = max(1, 2_000_000 // max(n, 1))  # bound the memory of one batch of resamples
    for lo in range(0, n_boot, step):
        rows = min(n_boot, lo + step) - lo
        idx = rng.integers(0, n, size=(rows, n))
        # how often each item is drawn in each resample: (rows x n) weights
        flat = (idx + (np.arange(rows) * n)[:, None]).ravel()
        weights = np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)
        sums_num[:, lo : lo + rows] = num @ weights.T
        sums_den[:, lo : lo + rows] = den @ weights.T
    return sums_num, sums_den


def confidence_intervals(
    items: Sequence[Scored], seed: int = 0, n_boot: int = N_BOOTSTRAP
) -> dict[str, list[float] | None]:
    """Seeded percentile-bootstrap 95% intervals of every headline metric (items resampled
    with replacement; None where the metric is undefined)."""
    point = compute(items)
    rng = np.random.default_rng(seed)
    out: dict[str, list[float] | None] = {name: None for name in HEADLINE}
    if not items:
        return out
    num, den = _arrays(items)
    sn, sd = _resample_ratios(num, den, rng, n_boot)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(sd > 0, sn / np.where(sd > 0, sd, 1.0), np.nan)
    samples = {name: ratio[i] for i, name in enumerate(RATIOS)}
    for f1_name, p_name, r_name in (
        ("citation_f1", "citation_precision", "citation_recall"),
        ("abstention_f1", "abstention_precision", "abstention_recall"),
    ):
        p, r = samples[p_name], samples[r_name]
        with np.errstate(invalid="ignore", divide="ignore"):
            samples[f1_name] = np.where(
                p + r > 0,
                2 * p * r / np.where(p + r > 0, p + r, 1),
                np.where(np.isnan(p + r), np.nan, 0.0),
            )
    lat = _latencies(items)
    if lat.size:
        idx = rng.integers(0, lat.size, size=(n_boot, lat.size))
        resampled = lat[idx]
        samples["latency_ms_p50"] = np.percentile(resampled, 50, axis=1)
        samples["latency_ms_p95"] = np.percentile(resampled, 95, axis=1)
    for name in HEADLINE:
        if point[name] is not None and name in samples:
            out[name] = _interval(samples[name])
    return out


def hit_curve(
    items: Sequence[Scored], k_max: int = K_MAX, seed: int = 0, n_boot: int = N_BOOTSTRAP
) -> list[tuple[int, float, list[float] | None]]:
    """hit@k for k = 1..k_max with bootstrap intervals: [(k, value, [low, high])]."""
    pool = [s for s in items if in_retrieval(s)]
    if not pool:
        return []
    num = np.array([[hit_at(s, k) for s in pool] for k in range(1, k_max + 1)])
    den = np.ones_like(num)
    sn, sd = _resample_ratios(num, den, np.random.default_rng(seed), n_boot)
    return [
        (k, float(num[k - 1].mean()), _interval(sn[k - 1] / sd[k - 1])) for k in range(1, k_max + 1)
    ]


@dataclass(frozen=True)
class SweepPoint:
    """The abstention metrics if the bot abstained whenever confidence < threshold."""

    threshold: float
    coverage: float
    risk: float | None  # share of answered items that are wrong
    abstention_precision: float | None
    abstention_recall: float | None
    abstention_f1: float | None
    false_abstention_rate: float | None


def answered_correctly(s: Scored) -> bool:
    """For risk: an answer is right when the item is answerable and the top-ranked sentence
    is gold."""
    return s.answerable and s.gold_rank == 1


def threshold_sweep(items: Sequence[Scored], points: int = 101) -> list[SweepPoint]:
    """Abstain-below-threshold sweep over the confidence (top ranking score). Items that
    errored or have no confidence are never answered; answerable items without gold count
    as wrong answers."""
    conf = np.array([-np.inf if s.error or s.confidence is None else s.confidence for s in items])
    finite = conf[np.isfinite(conf)]
    if not finite.size:
        return []
    thresholds = np.unique(
        np.concatenate(
            [np.linspace(finite.min(), finite.max(), points), finite, [finite.max() + 1e-9]]
        )
    )
    answerable = np.array([s.answerable for s in items])
    errored = np.array([s.error for s in items])
    correct = np.array([answered_correctly(s) for s in items])
    n = len(items)
    out = []
    for t in thresholds:
        answered = conf >= t
        abstain = ~answered
        n_answered = int(answered.sum())
        tp = int((abstain & ~answerable & ~errored).sum())
        ap = tp / int(abstain.sum()) if abstain.any() else None
        ar = tp / int((~answerable).sum()) if (~answerable).any() else None
        far = float((abstain & answerable).sum() / answerable.sum()) if answerable.any() else None
        risk = float((answered & ~correct).sum() / n_answered) if n_answered else None
        out.append(
            SweepPoint(
                threshold=float(t),
                coverage=n_answered / n,
                risk=risk,
                abstention_precision=ap,
                abstention_recall=ar,
                abstention_f1=_f1(ap, ar),
                false_abstention_rate=far,
            )
        )
    return out
