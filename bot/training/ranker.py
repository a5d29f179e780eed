"""Training the ranker and the abstention model on NorQuAD (`articlebot train-ranker`).

Each training question is scored against the sentences of its own passage (the ranker learns
which sentence holds the answer span) and against the passage of a different document (the
abstainer learns when no sentence does); the examples come from `bot.training.examples`. The
result is a small JSON file with the training data's sha256.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bot.ranking.features import (
    FEATURE_NAMES,
    abstain_row,
)
from bot.ranking.model import (
    ABSTAIN_FEATURES,
    LANGUAGE_BOUND_ABSTAIN_FEATURES,
    LANGUAGE_BOUND_FEATURES,
    LinearModel,
    RankerModel,
    Variant,
)
from bot.training.examples import (
    Example,
    QAItem,
    make_example,
    negative_pairs,
    prepare_passages,
    without,
)
from index.chunk import CHUNKER_VERSION
from index.embedder import SentenceEmbedder
from index.vectorcache import embed_questions


def abstain_matrix(examples: Sequence[Example], scores: Sequence[np.ndarray]) -> np.ndarray:
    """The abstention features of each example, given the ranker's scores."""
    return np.stack(
        [
            abstain_row(e.question, e.matrix, s, e.passage.prepared.vocabulary)
            for e, s in zip(examples, scores, strict=True)
        ]
    )


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def fit_listwise(
    examples: Sequence[Example], l2: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A linear scorer trained listwise: softmax over each question's sentences, maximising
    the probability of the gold sentences (a conditional logit). Returns mean, scale, coef."""
    from scipy.optimize import minimize

    usable = [e for e in examples if e.gold.any() and len(e.gold) > 1]
    stacked = np.concatenate([e.matrix for e in usable])
    mean, scale = _standardise(stacked)
    xs = [(e.matrix - mean) / scale for e in usable]
    golds = [e.gold for e in usable]
    bounds = np.cumsum([0] + [len(x) for x in xs])
    x_all = np.concatenate(xs)
    gold_all = np.concatenate(golds)
    group = np.repeat(np.arange(len(xs)), [len(x) for x in xs])
    n_q = len(xs)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x_all @ w
        total, grad = 0.0, np.zeros_like(w)
        smax = np.maximum.reduceat(s, bounds[:-1])
        e = np.exp(s - smax[group])
        z = np.add.reduceat(e, bounds[:-1])
        p = e / z[group]
        # log of the total gold probability per question
        gp = np.add.reduceat(p * gold_all, bounds[:-1])
        total = -float(np.sum(np.log(np.maximum(gp, 1e-12))))
        # d/dw: sum over q of (E_p[x] - E_{p|gold}[x])
        pg = (p * gold_all) / gp[group]
        grad = x_all.T @ (p - pg)
        total += 0.5 * l2 * float(w @ w)
        grad = grad + l2 * w
        return total / n_q, grad / n_q

    w0 = np.zeros(x_all.shape[1])
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return mean, scale, np.asarray(res.x)


def hit_at(examples: Sequence[Example], scores: Sequence[np.ndarray], k: int = 1) -> float:
    """Share of examples whose gold sentence is among the top k by score."""
    hits = [
        bool(e.gold[np.argsort(-s, kind="stable")[:k]].any())
        for e, s in zip(examples, scores, strict=True)
    ]
    return float(np.mean(hits)) if hits else 0.0


@dataclass(frozen=True)
class TrainingReport:
    """What training measured on its own data (never on the validation split)."""

    n_questions: int
    n_contexts: int
    l2: float
    heldout_hit_at_1: dict[str, float]
    lexical: dict[str, float]
    crosslingual: dict[str, float]


def _fit_abstainer(
    x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(x)
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    clf.fit((x - mean) / scale, y)
    return mean, scale, np.asarray(clf.coef_[0]), float(clf.intercept_[0])


def choose_second_citation(examples: Sequence[Example], scores: Sequence[np.ndarray]) -> float:
    """The score gap under which a second sentence is cited: the one that maximises the
    citation F1 (precision: cited sentences that are gold; recall: a gold sentence cited)
    on the training questions."""
    pairs = []
    for e, s in zip(examples, scores, strict=True):
        if len(s) < 2 or not e.gold.any():
            continue
        order = np.argsort(-s, kind="stable")
        pairs.append(
            (float(s[order[0]] - s[order[1]]), bool(e.gold[order[0]]), bool(e.gold[order[1]]))
        )
    if not pairs:
        return 0.0
    gaps = np.array([p[0] for p in pairs])
    first = np.array([p[1] for p in pairs])
    second = np.array([p[2] for p in pairs])
    best, best_f1 = 0.0, -1.0
    for g in np.quantile(gaps, np.linspace(0.0, 0.9, 19)):
        two = gaps <= g
        cited = 1 + two
        precision = float(np.mean((first + (two & second)) / cited))
        recall = float(np.mean(first | (two & second)))
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best, best_f1 = float(g), f1
    return best


def _mask(names: Sequence[str], drop: frozenset[str]) -> np.ndarray:
    return np.array([n not in drop for n in names], dtype=np.float64)


def _masked(examples: Sequence[Example], keep: np.ndarray) -> list[Example]:
    return [replace(e, matrix=e.matrix * keep) for e in examples]


def _fit_variant(
    examples: Sequence[Example],
    negatives: Sequence[Example],
    hard: Sequence[Example],
    l2: float,
    drop_rank: frozenset[str],
    drop_abstain: frozenset[str],
    false_abstention: float,
    seed: int,
) -> tuple[Variant, dict[str, float]]:
    """Fit one variant (ranker + abstainer + threshold) without the dropped features."""
    keep = _mask(FEATURE_NAMES, drop_rank)
    mean, scale, coef = fit_listwise(_masked(examples, keep), l2=l2)
    coef = coef * keep  # dropped features carry no weight at all
    ranker = LinearModel(FEATURE_NAMES, mean * keep, np.where(keep > 0, scale, 1.0), coef, 0.0)
    a_keep = _mask(ABSTAIN_FEATURES, drop_abstain)

    def rows(group: Sequence[Example]) -> np.ndarray:
        out: np.ndarray = abstain_matrix(group, [ranker.decision(e.matrix) for e in group])
        masked: np.ndarray = out * a_keep
        return masked

    x_pos, x_neg, x_hard = rows(examples), rows(negatives), rows(hard)
    x = np.concatenate([x_pos, x_neg, x_hard])
    y = np.concatenate([np.ones(len(x_pos)), np.zeros(len(x_neg) + len(x_hard))])
    a_mean, a_scale, a_coef, a_icpt = _fit_abstainer(x, y, seed)
    a_coef = a_coef * a_keep
    abstainer = LinearModel(
        ABSTAIN_FEATURES, a_mean * a_keep, np.where(a_keep > 0, a_scale, 1.0), a_coef, a_icpt
    )
    p_pos = abstainer.probability(x_pos)
    threshold = float(np.quantile(p_pos, false_abstention))
    figures = {
        "train_hit_at_1": hit_at(examples, [ranker.decision(e.matrix) for e in examples]),
        "abstain_below": threshold,
        "train_false_abstention": float(np.mean(p_pos < threshold)),
        "train_negative_abstention": float(np.mean(abstainer.probability(x_neg) < threshold)),
        "train_hard_negative_abstention": float(np.mean(abstainer.probability(x_hard) < threshold)),
    }
    return Variant(ranker, abstainer, threshold), figures


def train_model(
    items: Sequence[QAItem],
    embedder: SentenceEmbedder,
    cache: Path | None,
    seed: int = 0,
    false_abstention: float = 0.03,
    progress: Callable[[str], None] | None = None,
) -> tuple[RankerModel, TrainingReport]:
    """Train both variants (lexical, cross-lingual) on context-carrying Q&A items.

    The ranker is a listwise linear model whose L2 strength is chosen on a held-out fifth of
    the training contexts; the abstainer is a logistic regression over question-level
    features, trained against each question asked of another document's passage and of its
    own passage without the answer sentence; its threshold keeps the training questions'
    false abstentions at `false_abstention`.
    """
    say = progress or (lambda _: None)
    usable = [i for i in items if i.context is not None and i.spans and i.answerable]
    contexts = list(dict.fromkeys(i.context for i in usable if i.context is not None))
    say(f"embedding {len(contexts)} passages and {len(usable)} questions ...")
    passages = prepare_passages(contexts, embedder, cache)
    qvecs = embed_questions([i.question for i in usable], embedder, cache)
    examples = [
        make_example(it, passages[it.context or ""], qvecs[k]) for k, it in enumerate(usable)
    ]

    rng = random.Random(seed)
    shuffled = contexts[:]
    rng.shuffle(shuffled)
    held = set(shuffled[: len(shuffled) // 5])
    fit_part = [e for e in examples if e.item.context not in held]
    held_part = [e for e in examples if e.item.context in held]
    heldout: dict[str, float] = {}
    for l2 in (0.1, 0.3, 1.0, 3.0, 10.0):
        mean, scale, coef = fit_listwise(fit_part, l2=l2)
        heldout[str(l2)] = hit_at(
            held_part, [((e.matrix - mean) / scale) @ coef for e in held_part]
        )
    best_l2 = float(max(heldout, key=lambda k: (heldout[k], -float(k))))
    say(f"held-out hit@1 by L2: {heldout}; using {best_l2}")

    index_of = {id(it): k for k, it in enumerate(usable)}
    say("building negatives ...")
    negatives = [
        make_example(item, passages[other], qvecs[index_of[id(item)]])
        for item, other in negative_pairs(usable, seed)
    ]
    hard = [
        make_example(e.item, without(e.passage, e.gold), qvecs[k])
        for k, e in enumerate(examples)
        if e.gold.any() and (~e.gold).sum() >= 3
    ]
    lexical, lex_fig = _fit_variant(
        examples, negatives, hard, best_l2, frozenset(), frozenset(), false_abstention, seed
    )
    cross, cross_fig = _fit_variant(
        examples,
        negatives,
        hard,
        best_l2,
        LANGUAGE_BOUND_FEATURES,
        LANGUAGE_BOUND_ABSTAIN_FEATURES,
        false_abstention,
        seed,
    )
    within = choose_second_citation(examples, [lexical.ranker.decision(e.matrix) for e in examples])
    say(f"second citation when within {within:.2f} of the first")
    model = RankerModel(lexical=lexical, crosslingual=cross, second_citation_within=within, meta={})
    report = TrainingReport(
        n_questions=len(usable),
        n_contexts=len(contexts),
        l2=best_l2,
        heldout_hit_at_1=heldout,
        lexical=lex_fig,
        crosslingual=cross_fig,
    )
    return model, report


def write_model(
    items: Sequence[QAItem],
    provenance: dict[str, object],
    out: Path,
    embedder: SentenceEmbedder,
    cache: Path | None,
    seed: int,
    notice: Callable[[str], None],
) -> TrainingReport:
    """Train on `items` and write the model file atomically, with its provenance."""
    model, report = train_model(items, embedder, cache, seed=seed, progress=notice)
    meta = {
        "source": "articlebot train-ranker",
        **provenance,
        "embedder": embedder.spec,
        "chunker": CHUNKER_VERSION,
        "seed": seed,
        **asdict(report),
    }
    model = replace(model, meta=meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    notice(
        f"wrote {out}: train hit@1 {report.lexical['train_hit_at_1']:.3f} (lexical), "
        f"{report.crosslingual['train_hit_at_1']:.3f} (cross-lingual)"
    )
    return report
