"""Training the short answer's confidence model (`articlebot train-short-answer`).

Each question is ranked against its own passage by the shipped ranker (the variant of its
detected language) and abstained on as the product would; the short answer comes from the
top sentence, the one the answer cites first. A short answer is right when its token F1
against the gold answer is at least `BAR` (0.5). The logistic confidence model is fitted on
the training file, and the lowest probability at which the short answers shown are at least
`TARGET` (0.9) precise is chosen on out-of-fold probabilities of the same file; validation
and the dev files only measure it (`scripts/short_answers.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.eval.metrics import exact_match, token_f1
from bot.eval.qafile import QAItem
from bot.language import detect_language
from bot.ranking.features import abstain_row
from bot.ranking.model import LinearModel, RankerModel
from bot.short_answer import FEATURES, ShortAnswerModel, candidate, candidate_features
from bot.training.examples import make_example, prepare_passages
from core.text import fold_spaces
from index.embedder import SentenceEmbedder
from index.vectorcache import embed_questions

BAR = 0.5
TARGET = 0.9
FOLDS = 5
MIN_SHOWN = 20  # a threshold is judged on at least this many answers
# The logistic regression's inverse L2 strength. A grid (1, 0.1, 0.01) showed 35, 33 and 37
# out-of-fold answers at TARGET: no difference beyond noise, so one middle value is fixed.
C_GRID = (0.1,)


@dataclass(frozen=True)
class Case:
    """One question: its candidate short answer (if any), features and whether it is right."""

    question: str
    kind: str | None
    text: str | None
    features: np.ndarray | None
    right: bool
    exact: bool
    abstained: bool
    top_gold: bool  # the top sentence (the first cited) overlaps the gold answer
    group: int = 0  # which fifth of the passages its passage is in (for cross-validation)


def _golds(item: QAItem) -> list[str]:
    if item.spans:
        return [s.text for s in item.spans]
    return list(item.answers)


def cases(
    items: Sequence[QAItem], embedder: SentenceEmbedder, cache: Path | None, ranker: RankerModel
) -> list[Case]:
    """Every item ranked, abstained on or not, with its candidate short answer."""
    passages = prepare_passages([i.context or "" for i in items], embedder, cache)
    qvecs = embed_questions([i.question for i in items], embedder, cache)
    out = []
    for k, item in enumerate(items):
        passage = passages[item.context or ""]
        ex = make_example(item, passage, qvecs[k])
        variant = ranker.variant(detect_language(item.question))
        scores = variant.ranker.decision(ex.matrix)
        row = abstain_row(ex.question, ex.matrix, scores, passage.prepared.vocabulary)
        answerable = float(variant.abstainer.probability(row[None, :])[0])
        abstained = answerable < variant.abstain_below
        order = np.argsort(-scores, kind="stable")
        sentence = passage.prepared.sentences[int(order[0])].text
        group = int(hashlib.sha1(passage.text.encode("utf-8")).hexdigest(), 16) % FOLDS
        if item.evidence:  # dev items: gold by evidence substring
            top_gold = any(fold_spaces(e) in fold_spaces(sentence) for e in item.evidence)
        else:
            top_gold = bool(ex.gold[int(order[0])])
        ranked = [float(scores[i]) for i in order[:2]]
        c = candidate(ex.question, sentence, item.question)
        if c is None:
            out.append(
                Case(item.question, None, None, None, False, False, abstained, top_gold, group)
            )
            continue
        golds = _golds(item)
        out.append(
            Case(
                item.question,
                c.kind,
                c.text,
                candidate_features(ex.question, sentence, item.question, c, ranked, answerable),
                token_f1(c.text, golds) >= BAR,
                exact_match(c.text, golds) == 1.0,
                abstained,
                top_gold,
                group,
            )
        )
    return out


def _fit_linear(x: np.ndarray, y: np.ndarray, c: float) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=5000, random_state=0)
    clf.fit((x - mean) / scale, y)
    return LinearModel(FEATURES, mean, scale, np.asarray(clf.coef_[0]), float(clf.intercept_[0]))


def threshold(
    p: np.ndarray, y: np.ndarray, target: float = TARGET, min_shown: int = MIN_SHOWN
) -> float:
    """The lowest probability at which the answers shown, and those of every stricter
    threshold that shows at least `min_shown`, are `target` precise (1.0, nothing shown, when
    there is none). The out-of-fold precision curve
    crosses TARGET more than once; the lowest crossing (the most coverage) is an edge that
    held-out data did not keep (validation 8 of 10 right there), so a threshold is taken only
    where no stricter one falls below TARGET."""
    order = np.argsort(-p, kind="stable")
    precision = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    ok = precision >= target
    ok[: min_shown - 1] = True
    last = int(np.argmin(ok)) - 1 if not ok.all() else len(ok) - 1
    return float(p[order[last]]) if last >= min_shown - 1 else 1.0


def fit(train: Sequence[Case]) -> tuple[ShortAnswerModel, float]:
    """The logistic confidence model on train's candidates, and its L2 strength. The
    threshold and the strength are chosen on out-of-fold probabilities (each fifth of train's
    passages scored by a model fitted on the other four): the strength that shows the most
    answers at TARGET precision, and that threshold; so neither is set on answers the model
    has seen."""
    usable = [c for c in train if c.features is not None and not c.abstained]
    x = np.stack([c.features for c in usable if c.features is not None])
    y = np.array([c.right for c in usable], dtype=float)
    groups = np.array([c.group for c in usable])
    best: tuple[int, float, float] | None = None
    for c in C_GRID:
        oof = np.zeros(len(y))
        for g in range(FOLDS):
            held = groups == g
            oof[held] = _fit_linear(x[~held], y[~held], c).probability(x[held])
        t = threshold(oof, y)
        shown = int((oof >= t).sum())
        if best is None or shown > best[0]:
            best = (shown, c, t)
    assert best is not None
    _, c, t = best
    return ShortAnswerModel(_fit_linear(x, y, c), t), c


def write_model(
    items: Sequence[QAItem],
    provenance: dict[str, object],
    out: Path,
    embedder: SentenceEmbedder,
    cache: Path | None,
    ranker: RankerModel,
    notice: Callable[[str], None],
) -> ShortAnswerModel:
    """Fit the confidence model on `items` and write it (atomically) to `out`, with the
    provenance and what it was fitted against; returns it."""
    notice(f"ranking {len(items)} questions against their passages ...")
    model, c = fit(cases(items, embedder, cache, ranker))
    data = {
        **model.to_json(),
        "meta": {
            "l2_inverse_strength": c,
            "folds": FOLDS,
            "source": "articlebot train-short-answer",
            **provenance,
            "right_when_token_f1_at_least": BAR,
            "target_precision_on_train": TARGET,
            "ranker_train_sha256": ranker.meta.get("train_sha256"),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    notice(f"wrote {out}: show above {model.show_above:.3f}")
    return model
