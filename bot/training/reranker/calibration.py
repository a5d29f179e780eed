"""Fitting the reranker's answer rule on training passages held out from fine-tuning.

Given cross-encoder scores of the first stage's top candidates, this fits (a) the weights that
combine the cross-encoder and first-stage scores, listwise; (b) a logistic answerability model
over cross-encoder-derived and first-stage features, trained on each held-out question against
its own passage (answerable), its own passage without the answer sentence and another
document's passage (unanswerable), optionally with the span reader's margin on the sentence
it would cite, with a threshold that keeps false abstentions on the held-out questions (or
those marked to set it) at a set rate; (c) the score gap under which a second sentence is cited.
Torch-free: the scores come from the exported model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.ranking.crossencoder import (
    ANSWER_FEATURES,
    READER_ANSWER_FEATURES,
    AnswerRule,
    answer_features,
)
from bot.training.reranker.candidates import CandidateList, QuestionLists

Scorer = Callable[[str, Sequence[str]], np.ndarray]


class ScoreCache:
    """Cross-encoder scores by (question, sentence), so lists sharing pairs score once;
    optionally kept in a JSON file, so that a rerun (or the evaluation) scores nothing twice.
    """

    def __init__(self, scorer: Scorer, path: Path | None = None) -> None:
        self.scorer = scorer
        self.path = path
        self.scores: dict[tuple[str, str], float] = {}
        if path is not None and path.exists():
            for key, v in json.loads(path.read_text(encoding="utf-8")).items():
                q, s = key.split("\x1f", 1)
                self.scores[(q, s)] = float(v)

    def save(self) -> None:
        """Write the scores to the cache file (if any)."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({f"{q}\x1f{s}": v for (q, s), v in self.scores.items()}), encoding="utf-8"
        )
        tmp.replace(self.path)

    def __call__(self, c: CandidateList) -> np.ndarray:
        """The scores of a list's sentences."""
        todo = [s for s in dict.fromkeys(c.sentences) if (c.question, s) not in self.scores]
        if todo:
            for s, v in zip(todo, self.scorer(c.question, todo), strict=True):
                self.scores[(c.question, s)] = float(v)
        return np.array([self.scores[(c.question, s)] for s in c.sentences])


@dataclass(frozen=True)
class Scored:
    """A candidate list with its cross-encoder scores, and optionally the span reader's
    margin on each candidate (for a rule that reads it)."""

    lists: CandidateList
    ce: np.ndarray
    margins: np.ndarray | None = None


def score_all(
    lists: Sequence[QuestionLists],
    cache: ScoreCache,
    desc: str = "scoring",
    margins: ScoreCache | None = None,
) -> list[dict[str, Scored]]:
    """Scores of each question's lists (keys: own, same_topic, other; absent when the list
    is), with the span reader's margins when `margins` gives them."""
    from tqdm import tqdm

    def scored(c: CandidateList) -> Scored:
        return Scored(c, cache(c), None if margins is None else margins(c))

    out = []
    for n, q in enumerate(tqdm(lists, desc=desc, unit="question", mininterval=10.0)):
        if n % 50 == 49:
            cache.save()
            if margins is not None:
                margins.save()
        row = {"own": scored(q.own)}
        if q.same_topic is not None:
            row["same_topic"] = scored(q.same_topic)
        if q.other is not None:
            row["other"] = scored(q.other)
        out.append(row)
    cache.save()
    if margins is not None:
        margins.save()
    return out


def fit_combination(
    scored: Sequence[Scored], k: int, l2: float = 0.01, start: tuple[float, float] = (1.0, 0.0)
) -> tuple[float, float]:
    """Weights of (cross-encoder, first-stage) scores maximising the gold's listwise
    likelihood over the top k."""
    from scipy.optimize import minimize

    data = [
        (np.stack([s.ce[:k], s.lists.first_stage[:k]], axis=1), s.lists.gold[:k])
        for s in scored
        if s.lists.gold[:k].any() and len(s.ce[:k]) > 1
    ]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(2)
        for x, g in data:
            z = x @ w
            m = z.max()
            p = np.exp(z - m)
            p /= p.sum()
            pg = p[g].sum()
            total -= float(np.log(max(pg, 1e-12)))
            grad += x.T @ p - (x[g].T @ p[g]) / max(pg, 1e-12)
        n = max(len(data), 1)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    res = minimize(loss, np.array(start), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def features_of(s: Scored, k: int, null: float, weights: tuple[float, float]) -> np.ndarray:
    """The answerability features of a scored list's top k (with the span reader's margin on
    the candidate the weights rank first, when the list carries margins)."""
    ce, first = s.ce[:k], s.lists.first_stage[:k]
    margin = None
    if s.margins is not None:
        top = int(np.argsort(-(weights[0] * ce + weights[1] * first), kind="stable")[0])
        margin = float(s.margins[top])
    return answer_features(ce, first, null, s.lists.abstain_logit, weights, margin)


def fit_rule(
    scored: Sequence[dict[str, Scored]],
    k: int,
    null: float,
    false_abstention: float = 0.025,
    max_citations: float = 1.4,
    seed: int = 0,
    start: tuple[float, float] = (1.0, 0.0),
    operating: Sequence[bool] | None = None,
    ignore: Sequence[str] = (),
) -> tuple[AnswerRule, dict[str, float]]:
    """The answer rule for the top k, fitted on held-out questions; with its figures there.
    `operating` marks the questions whose false abstentions set the threshold (default:
    all); the model is fitted on every one. The features named in `ignore` are left out of
    the answerability model (their weight is zero)."""
    from sklearn.linear_model import LogisticRegression

    own = [r["own"] for r in scored]
    weights = fit_combination(own, k, start=start)
    x_pos = np.stack([features_of(s, k, null, weights) for s in own])
    negs = [r[key] for r in scored for key in ("same_topic", "other") if key in r]
    x_neg = np.stack([features_of(s, k, null, weights) for s in negs])
    x = np.concatenate([x_pos, x_neg])
    y = np.concatenate([np.ones(len(x_pos)), np.zeros(len(x_neg))])
    names = READER_ANSWER_FEATURES if own[0].margins is not None else ANSWER_FEATURES
    unknown = set(ignore) - set(names)
    if unknown:
        raise ValueError(f"not an answer rule feature: {', '.join(sorted(unknown))}")
    used = np.array([n not in ignore for n in names])
    mean = np.where(used, x.mean(axis=0), 0.0)
    scale = np.where(used, x.std(axis=0), 1.0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    clf.fit(((x - mean) / scale)[:, used], y)
    coef = np.zeros(len(names))
    coef[used] = clf.coef_[0]
    icpt = float(clf.intercept_[0])

    def prob(rows: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(((rows - mean) / scale) @ coef + icpt))))

    p_pos = prob(x_pos)
    at = np.ones(len(p_pos), dtype=bool) if operating is None else np.asarray(operating, bool)
    if not at.any():
        raise ValueError("no held-out question is marked to set the answer rule's threshold")
    threshold = float(np.quantile(p_pos[at], false_abstention))
    # the second-citation gap: the widest that keeps the mean citations within budget
    gaps = []
    for s in own:
        c = weights[0] * s.ce[:k] + weights[1] * s.lists.first_stage[:k]
        top2 = np.sort(c)[::-1][:2]
        gaps.append(float(top2[0] - top2[1]) if len(top2) > 1 else np.inf)
    gap_arr = np.sort(np.array(gaps))
    budget = int(np.floor((max_citations - 1.0) * len(gap_arr)))
    within = float(gap_arr[budget - 1]) if budget > 0 else 0.0
    rule = AnswerRule(
        features=names,
        k=k,
        ce_weight=weights[0],
        first_stage_weight=weights[1],
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=icpt,
        abstain_below=threshold,
        second_within=within,
    )
    kinds = {key: [r[key] for r in scored if key in r] for key in ("same_topic", "other")}
    figures = {"false_abstention": float(np.mean(p_pos[at] < threshold))}
    if not at.all():
        figures["false_abstention_added"] = float(np.mean(p_pos[~at] < threshold))
    for key, group in kinds.items():
        if group:
            xs = np.stack([features_of(s, k, null, weights) for s in group])
            figures[f"{key}_abstained"] = float(np.mean(prob(xs) < threshold))
    return rule, figures
