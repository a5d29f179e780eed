"""The span reader's confidence model and threshold, fitted on NorQuAD passages held out from
all fine-tuning, read as the query path reads them: the answer rule picks the sentence cited
first among the first stage's best, and the head reads that sentence.

A shown short answer is right when it equals a gold answer or holds one and is at most twice
as long (`bot.eval.metrics.short_right`). The logistic model's probabilities for the
threshold are out-of-fold (each fifth of the passages scored by a model fitted on the other
four), so the threshold is not set on answers the model was fitted to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.eval.metrics import exact_match, short_right, token_f1
from bot.ranking.crossencoder import AnswerRule, CrossEncoderScorer
from bot.ranking.features import question_info
from bot.ranking.model import LinearModel
from bot.ranking.reader import READER_FEATURES, SpanReader, span_features
from bot.training.reranker.candidates import QuestionLists
from bot.training.short_answer import threshold

FOLDS = 5
C = 0.1  # the logistic regression's inverse L2 strength
MIN_CASES = 40  # fewer answered held-out questions fit no confidence model
# the threshold is judged from this many shown answers on: above it, one wrong answer more
# or less moves the precision by several points (20 shown at 0.85 is 17 right)
MIN_JUDGED = 50


@dataclass(frozen=True)
class ReadCase:
    """One held-out question read as the query path reads it."""

    features: np.ndarray
    text: str
    golds: tuple[str, ...]
    answered: bool  # the answer rule did not abstain
    group: int  # which fifth of the passages (cross-fitting)

    @property
    def right(self) -> bool:
        """Whether the span, shown, would count as right."""
        return short_right(self.text, self.golds) == 1.0


def read_cases(
    lists: Sequence[QuestionLists], scorer: CrossEncoderScorer, reader: SpanReader, rule: AnswerRule
) -> list[ReadCase]:
    """Each answerable held-out question's span in the sentence the rule cites first."""
    out = []
    for q in lists:
        own = q.own.top(rule.k)
        verdict = scorer.rerank(
            own.question, own.sentences, own.first_stage, own.abstain_logit, rule
        )
        reading = verdict.readings[verdict.order[0]]
        span = reader.span(reading)
        if span is None:
            continue
        info = question_info(own.question)
        context = q.item.context or ""
        out.append(
            ReadCase(
                features=span_features(span, info, verdict.answerable),
                text=reading.sentence[span.start : span.end],
                golds=tuple(s.text for s in q.item.spans),
                answered=not verdict.abstain,
                group=int(hashlib.sha1(context.encode("utf-8")).hexdigest(), 16) % FOLDS,
            )
        )
    return out


def fit_logistic(
    x: np.ndarray, y: np.ndarray, names: Sequence[str] = READER_FEATURES
) -> LinearModel:
    """A logistic model of `y` over the standardised columns of `x`, named `names` (the
    confidence model's own, or others a probe compares)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=C, max_iter=5000, random_state=0)
    clf.fit((x - mean) / scale, y)
    return LinearModel(
        tuple(names), mean, scale, np.asarray(clf.coef_[0]), float(clf.intercept_[0])
    )


def fit_confidence(
    cases: Sequence[ReadCase], precision: float
) -> tuple[LinearModel, float, dict[str, float]]:
    """The confidence model over the answered cases, the threshold at `precision` on
    out-of-fold probabilities, and the held-out figures: exact match and token F1 of the span
    taken for every question, and the coverage and precision of those shown."""
    answered = [c for c in cases if c.answered]
    y = np.array([c.right for c in answered], dtype=float)
    figures = {
        "questions": float(len(cases)),
        "answered": float(len(answered)),
        "exact_match_all": float(np.mean([exact_match(c.text, c.golds) for c in cases]))
        if cases
        else 0.0,
        "f1_all": float(np.mean([token_f1(c.text, c.golds) for c in cases])) if cases else 0.0,
    }
    if len(answered) < MIN_CASES or len(set(y.tolist())) < 2:
        # too little to fit on: a model that shows nothing
        return neutral(), 1.0, {**figures, "coverage": 0.0, "precision": 1.0}
    x = np.stack([c.features for c in answered])
    model, t, oof = cross_fitted(x, y, np.array([c.group for c in answered]), precision)
    shown = oof >= t
    figures["coverage"] = float(shown.mean())
    figures["precision"] = float(y[shown].mean()) if shown.any() else 1.0
    return model, t, figures


def cross_fitted(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    precision: float,
    names: Sequence[str] = READER_FEATURES,
) -> tuple[LinearModel, float, np.ndarray]:
    """The logistic model of `y` over every row of `x`, the threshold at `precision` judged
    from `MIN_JUDGED` shown on, and the out-of-fold probabilities it was set on (each of the
    `FOLDS` passage groups scored by a model fitted on the others)."""
    oof = np.zeros(len(y))
    for g in range(FOLDS):
        held = groups == g
        if held.any() and len(set(y[~held].tolist())) == 2:
            oof[held] = fit_logistic(x[~held], y[~held], names).probability(x[held])
    return fit_logistic(x, y, names), threshold(oof, y, precision, MIN_JUDGED), oof


def neutral() -> LinearModel:
    """A confidence model that says nothing (probability one half throughout)."""
    n = len(READER_FEATURES)
    return LinearModel(READER_FEATURES, np.zeros(n), np.ones(n), np.zeros(n), 0.0)
