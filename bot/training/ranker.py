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
    WORD_BOUND_ABSTAIN_FEATURES,
    WORD_BOUND_FEATURES,
    LinearModel,
    RankerModel,
    Variant,
)
from bot.training.crosslingual import CrossItem, document_of
from bot.training.examples import (
    Example,
    QAItem,
    make_example,
    negative_pairs,
    prepare_passages,
    without,
)
from bot.training.noise import NoisyItem
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
    n_added: int
    n_contexts: int
    l2: float
    lexical_dropout: float
    abstain_dropout: float
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
    ranked: Sequence[Example],
    examples: Sequence[Example],
    negatives: Sequence[Example],
    hard: Sequence[Example],
    l2: float,
    drop_rank: frozenset[str],
    drop_abstain: frozenset[str],
    false_abstention: float,
    seed: int,
    abstain_dropout: float = 0.0,
) -> tuple[Variant, dict[str, float]]:
    """Fit one variant (ranker + abstainer + threshold) without the dropped features: the
    ranker on `ranked` (the examples, some with their word-bound features dropped), the
    abstainer on the examples, an `abstain_dropout` share of them (answerable or not alike)
    seen as if asked in other words: scored without their word-bound ranking features and
    with the abstainer's word-bound features zeroed."""
    keep = _mask(FEATURE_NAMES, drop_rank)
    mean, scale, coef = fit_listwise(_masked(ranked, keep), l2=l2)
    coef = coef * keep  # dropped features carry no weight at all
    ranker = LinearModel(FEATURE_NAMES, mean * keep, np.where(keep > 0, scale, 1.0), coef, 0.0)
    a_keep = _mask(ABSTAIN_FEATURES, drop_abstain)

    r_word = _mask(FEATURE_NAMES, WORD_BOUND_FEATURES)
    a_word = _mask(ABSTAIN_FEATURES, WORD_BOUND_ABSTAIN_FEATURES)
    rng = np.random.default_rng(seed + 1)

    def rows(group: Sequence[Example]) -> np.ndarray:
        out: np.ndarray = abstain_matrix(group, [ranker.decision(e.matrix) for e in group])
        if abstain_dropout > 0:
            pick = np.flatnonzero(rng.random(len(group)) < abstain_dropout)
            if len(pick):
                worded = _masked([group[int(k)] for k in pick], r_word)
                dropped = abstain_matrix(worded, [ranker.decision(e.matrix) for e in worded])
                out[pick] = dropped * a_word
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


@dataclass(frozen=True)
class TrainingSet:
    """Every training question as an example against its own passage, against another
    document's passage (`negatives`) and against its own passage without the answer
    sentence (`hard`: the same-topic case). `primary` marks the examples of the training
    file itself; the others are the added signals (messy copies, cross-lingual pairs,
    paraphrases)."""

    examples: list[Example]
    negatives: list[Example]
    hard: list[Example]
    primary: np.ndarray
    n_contexts: int


def build_training_set(
    items: Sequence[QAItem],
    embedder: SentenceEmbedder,
    cache: Path | None,
    seed: int = 0,
    extra: Sequence[QAItem] = (),
    progress: Callable[[str], None] | None = None,
) -> TrainingSet:
    """Embed (cached) and featurise the training items and the `extra` ones (questions that
    share fewer words with their answer: messy copies, cross-lingual pairs, paraphrases)."""
    say = progress or (lambda _: None)
    usable = [i for i in items if i.context is not None and i.spans and i.answerable]
    added = [i for i in extra if i.context is not None and i.spans and i.answerable]
    every = [*usable, *added]
    contexts = list(dict.fromkeys(i.context for i in every if i.context is not None))
    say(f"embedding {len(contexts)} passages and {len(every)} questions ...")
    passages = prepare_passages(contexts, embedder, cache)
    qvecs = embed_questions([i.question for i in every], embedder, cache)
    say("computing features ...")
    examples = [
        make_example(it, passages[it.context or ""], qvecs[k]) for k, it in enumerate(every)
    ]
    index_of = {id(it): k for k, it in enumerate(every)}
    negatives = [
        make_example(item, passages[other], qvecs[index_of[id(item)]])
        for item, other in negative_pairs(every, seed, document_of)
    ]
    hard_at = [k for k, e in enumerate(examples) if e.gold.any() and (~e.gold).sum() >= 3]
    hard = [
        make_example(examples[k].item, without(examples[k].passage, examples[k].gold), qvecs[k])
        for k in hard_at
    ]
    primary = np.array([k < len(usable) for k in range(len(every))])
    return TrainingSet(examples, negatives, hard, primary, len(contexts))


def _drop_lexical(examples: Sequence[Example], share: float, seed: int) -> list[Example]:
    """A `share` of the examples with their word-bound features zeroed, as if the question
    had been asked in other words: the ranker then has to find the answer by meaning and by
    what is language-free (names, numbers, question type) in those lists."""
    if share <= 0:
        return list(examples)
    rng = np.random.default_rng(seed)
    keep = _mask(FEATURE_NAMES, WORD_BOUND_FEATURES)
    return [replace(e, matrix=e.matrix * keep) if rng.random() < share else e for e in examples]


def train_model(
    items: Sequence[QAItem],
    embedder: SentenceEmbedder,
    cache: Path | None,
    seed: int = 0,
    false_abstention: float = 0.03,
    progress: Callable[[str], None] | None = None,
    extra: Sequence[QAItem] = (),
    lexical_dropout: float = 0.0,
    abstain_dropout: float = 0.0,
) -> tuple[RankerModel, TrainingReport]:
    """Train both variants (lexical, cross-lingual) on context-carrying Q&A items."""
    data = build_training_set(items, embedder, cache, seed, extra, progress)
    return fit_model(data, seed, false_abstention, lexical_dropout, progress, abstain_dropout)


def fit_model(
    data: TrainingSet,
    seed: int = 0,
    false_abstention: float = 0.03,
    lexical_dropout: float = 0.0,
    progress: Callable[[str], None] | None = None,
    abstain_dropout: float = 0.0,
) -> tuple[RankerModel, TrainingReport]:
    """Fit both variants on a training set.

    The ranker is a listwise linear model whose L2 strength is chosen on a held-out fifth of
    the training contexts; the abstainer is a logistic regression over question-level
    features, trained against each question asked of another document's passage and of its
    own passage without the answer sentence; its threshold keeps the training questions'
    false abstentions at `false_abstention`. With `lexical_dropout`, that share of the
    ranker's lists loses its word-bound features; with `abstain_dropout`, that share of the
    lexical abstainer's rows (answerable and not alike) is seen as if asked in other words.
    """
    say = progress or (lambda _: None)
    examples = data.examples
    contexts = list(dict.fromkeys(e.item.context for e in examples))
    rng = random.Random(seed)
    shuffled = contexts[:]
    rng.shuffle(shuffled)
    held = set(shuffled[: len(shuffled) // 5])
    fit_part = _drop_lexical(
        [e for e in examples if e.item.context not in held], lexical_dropout, seed
    )
    held_part = [e for e in examples if e.item.context in held]
    heldout: dict[str, float] = {}
    for l2 in (0.1, 0.3, 1.0, 3.0, 10.0):
        mean, scale, coef = fit_listwise(fit_part, l2=l2)
        heldout[str(l2)] = hit_at(
            held_part, [((e.matrix - mean) / scale) @ coef for e in held_part]
        )
    best_l2 = float(max(heldout, key=lambda k: (heldout[k], -float(k))))
    say(f"held-out hit@1 by L2: {heldout}; using {best_l2}")

    ranked = _drop_lexical(examples, lexical_dropout, seed)

    # Each variant's abstainer learns from the questions it will answer: the lexical one
    # (Norwegian and Danish) from the file's questions, their messy copies and their
    # paraphrases, the cross-lingual one from the file's questions and the cross-lingual
    # pairs. The rankers learn from all of them. Cross-lingual pairs in the lexical abstainer
    # teach it that low word overlap is no sign of a wrong passage, and Norwegian questions
    # asked of another document's passage then get through; paraphrases are the lexical
    # variant's own kind of question (Norwegian, in a reader's words), which it must answer.
    def serving(group: Sequence[Example], crosslingual: bool) -> list[Example]:
        skip = NoisyItem if crosslingual else CrossItem
        return [e for e in group if not isinstance(e.item, skip)]

    lexical, lex_fig = _fit_variant(
        ranked,
        serving(examples, False),
        serving(data.negatives, False),
        serving(data.hard, False),
        best_l2,
        frozenset(),
        frozenset(),
        false_abstention,
        seed,
        abstain_dropout,
    )
    cross, cross_fig = _fit_variant(
        ranked,
        serving(examples, True),
        serving(data.negatives, True),
        serving(data.hard, True),
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
        n_questions=int(data.primary.sum()),
        n_added=int((~data.primary).sum()),
        n_contexts=data.n_contexts,
        l2=best_l2,
        lexical_dropout=lexical_dropout,
        abstain_dropout=abstain_dropout,
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
    extra: Sequence[QAItem] = (),
    lexical_dropout: float = 0.0,
    abstain_dropout: float = 0.0,
) -> TrainingReport:
    """Train on `items` (and the `extra` signals) and write the model file atomically, with
    its provenance."""
    model, report = train_model(
        items,
        embedder,
        cache,
        seed=seed,
        progress=notice,
        extra=extra,
        lexical_dropout=lexical_dropout,
        abstain_dropout=abstain_dropout,
    )
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
