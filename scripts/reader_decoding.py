"""How the span reader picks its span and how sure it is of it: the head's best span
against the span a shown answer is most likely to be counted right for.

    python scripts/reader_decoding.py --norquad DIR [--cache DIR] [--reranker-dir DIR]

A shown short answer counts as right when it equals the gold answer or holds it and is at
most twice as long (`bot.eval.metrics.short_right`). The head gives start and end logits;
its best span is the pair with the highest sum, and its confidence model reads that span's
margin and probabilities. Read as a distribution over every span of the sentence (and the
null option), the same logits also give each span's chance of counting as right: the
probability of the spans it would be right for (itself, and the shorter spans it holds at
most twice over), `expected_right`. Each question is read as the product reads it (the
first stage's best three sentences of its own passage, the cross-encoder's rule citing
one, the head over that sentence), on NorQuAD train's held-out passages (where the
confidence model is fitted) and NorQuAD validation. Rows:

- shipped: the best span, the shipped confidence inputs;
- + expected_right: the best span, its expected_right as an eleventh input;
- expected_right decoding: the span with the highest expected_right among the 20 likeliest,
  its inputs as the shipped ones (of its best token span) and expected_right.

For each: exact match and F1 over every answerable question (the span taken whatever its
confidence), and the confidence model fitted on the held-out answered questions as the
training command fits it (five passage folds, the threshold on out-of-fold probabilities
for 90% precision judged from 50 shown on), applied to validation with that threshold.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.metrics import exact_match, short_right, token_f1  # noqa: E402
from bot.eval.qafile import read_qa_file  # noqa: E402
from bot.intent import question_intent  # noqa: E402
from bot.language import detect_language  # noqa: E402
from bot.ranking.crossencoder import CrossEncoderScorer, load_scorer  # noqa: E402
from bot.ranking.features import QuestionInfo, question_info  # noqa: E402
from bot.ranking.model import load_model  # noqa: E402
from bot.ranking.reader import (  # noqa: E402
    OUTSIDE,
    READER_FEATURES,
    TRAILING,
    Reading,
    Span,
    span_features,
)
from bot.training.reranker.candidates import (  # noqa: E402
    QuestionLists,
    build_lists,
    heldout_items,
)
from bot.training.reranker.reader.calibration import FOLDS, cross_fitted  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

PRECISION = 0.9
CANDIDATES = 20  # spans whose expected_right is computed
SUPPORT = 60  # spans whose probability counts towards it


@dataclass(frozen=True)
class Choice:
    """A span as one decoding takes it: its text, its confidence inputs."""

    text: str
    features: np.ndarray


@dataclass(frozen=True)
class Read:
    """One question read in its cited sentence, by each decoding."""

    best: Choice  # the head's best span, shipped inputs + expected_right
    decoded: Choice  # the span with the highest expected_right
    golds: tuple[str, ...]
    answered: bool
    shown_allowed: bool
    group: int


def char_spans(
    start: np.ndarray, end: np.ndarray, reading: Reading, max_tokens: int
) -> tuple[list[tuple[float, Span]], float]:
    """Every span's characters (trimmed as the product trims them) with its `Span` (of its
    best token span), most probable first, and the null option's probability; a text's
    probability sums over the token spans that give it."""
    inside = np.array([s != OUTSIDE for s in reading.spans], dtype=bool)
    idx = np.flatnonzero(inside)
    valid = inside.copy()
    valid[0] = True
    ps = _softmax(np.where(valid, start, -np.inf))
    pe = _softmax(np.where(valid, end, -np.inf))
    table = start[idx][:, None] + end[idx][None, :]
    i, j = np.indices(table.shape)
    table = np.where((j >= i) & (j - i < max_tokens), table, -np.inf)
    null = float(start[0] + end[0])
    top = max(float(table.max()), null)
    z = float(np.exp(table - top).sum() + np.exp(null - top))
    sentence = reading.sentence
    merged: dict[tuple[int, int], tuple[float, Span]] = {}
    for a, b in zip(*np.nonzero(np.isfinite(table)), strict=True):
        first, last = int(idx[a]), int(idx[b])
        s, e = reading.spans[first][0], reading.spans[last][1]
        while s < e and sentence[s].isspace():
            s += 1
        while e > s and (sentence[e - 1].isspace() or sentence[e - 1] in TRAILING):
            e -= 1
        if e <= s:
            continue
        p = float(np.exp(table[a, b] - top) / z)
        span = Span(
            s,
            e,
            float(table[a, b] - null),
            float(ps[first] * pe[last]),
            float(ps[0] * pe[0]),
            last - first + 1,
        )
        if (s, e) in merged:
            old_p, old = merged[(s, e)]
            merged[(s, e)] = (old_p + p, old if old.margin >= span.margin else span)
        else:
            merged[(s, e)] = (p, span)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1][0])
    return [(p_s, span) for _, (p_s, span) in ranked], float(np.exp(null - top) / z)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    out: np.ndarray = e / e.sum()
    return out


def expected_right(text: str, support: Sequence[tuple[str, float]]) -> float:
    """The probability mass of the spans `text` would count as right for."""
    return float(sum(p for g, p in support if short_right(text, (g,)) == 1.0))


def choice(
    span: Span,
    reading: Reading,
    info: QuestionInfo,
    answerable: float,
    support: Sequence[tuple[str, float]],
) -> Choice:
    """A span's text and its confidence inputs, the shipped ones then expected_right."""
    text = reading.sentence[span.start : span.end]
    base = span_features(span, info, answerable)
    return Choice(text, np.append(base, expected_right(text, support)))


def read_all(lists: Sequence[QuestionLists], scorer: CrossEncoderScorer) -> list[Read]:
    """Each question of `lists` read in the sentence the answer rule cites first."""
    reader = scorer.reader
    if reader is None:
        raise SystemExit("the reranker has no span reader")
    out = []
    for q in lists:
        own = q.own
        verdict = scorer.rerank(own.question, own.sentences, own.first_stage, own.abstain_logit)
        reading = verdict.readings[verdict.order[0]]
        start, end = reader.logits(reading)
        best = reader.span(reading)
        if best is None:
            continue
        spans, _ = char_spans(start, end, reading, reader.max_tokens)
        support = [(reading.sentence[s.start : s.end], p) for p, s in spans[:SUPPORT]]
        info = question_info(own.question)
        decoded = max(
            (s for _, s in spans[:CANDIDATES]),
            key=lambda s: expected_right(reading.sentence[s.start : s.end], support),
        )
        context = (q.item.context or "").encode("utf-8")
        out.append(
            Read(
                best=choice(best, reading, info, verdict.answerable, support),
                decoded=choice(decoded, reading, info, verdict.answerable, support),
                golds=tuple(s.text for s in q.item.spans),
                answered=not verdict.abstain,
                shown_allowed=question_intent(own.question).wants_short_answer,
                group=int(hashlib.sha1(context).hexdigest(), 16) % FOLDS,
            )
        )
    return out


def row(held: Sequence[Read], val: Sequence[Read], name: str, decoded: bool, extra: bool) -> str:
    """One row: EM/F1 of the span over all, then the confidence fitted on held out."""
    cols = len(READER_FEATURES) + int(extra)
    names = (*READER_FEATURES, "expected_right")[:cols]

    def pick(r: Read) -> Choice:
        return r.decoded if decoded else r.best

    def em_f1(rows: Sequence[Read]) -> str:
        em = np.mean([exact_match(pick(r).text, r.golds) for r in rows])
        f1 = np.mean([token_f1(pick(r).text, r.golds) for r in rows])
        return f"{em:.3f} / {f1:.3f}"

    answered = [r for r in held if r.answered]
    x = np.stack([pick(r).features[:cols] for r in answered])
    y = np.array([short_right(pick(r).text, r.golds) for r in answered])
    groups = np.array([r.group for r in answered])
    model, t, oof = cross_fitted(x, y, groups, PRECISION, names)
    shown = oof >= t
    v_answered = [r for r in val if r.answered]
    v = [r for r in v_answered if r.shown_allowed]
    vp = model.probability(np.stack([pick(r).features[:cols] for r in v]))
    vy = np.array([short_right(pick(r).text, r.golds) for r in v])
    v_shown = vp >= t
    return (
        f"| {name} | {em_f1(held)} | {shown.mean():.3f} "
        f"| {y[shown].mean() if shown.any() else 1.0:.3f} | {em_f1(val)} "
        f"| {v_shown.sum() / len(v_answered):.3f} ({int(v_shown.sum())}) "
        f"| {vy[v_shown].mean() if v_shown.any() else 1.0:.3f} |"
    )


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norquad", type=Path, required=True, help="NorQuAD's folder")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "articlebot", help="cache folder"
    )
    parser.add_argument(
        "--reranker-dir", type=Path, default=None, help="a train-reranker folder (default: shipped)"
    )
    args = parser.parse_args()
    scorer = load_scorer(args.reranker_dir, args.cache / "reranker")
    train = read_qa_file(args.norquad / "train.jsonl").items
    validation = read_qa_file(args.norquad / "validation.jsonl").items
    embedder, ranker = make_embedder("e5-small-q4"), load_model()
    held = read_all(
        build_lists(heldout_items(train, 0), embedder, args.cache, ranker, 3, 0, detect_language),
        scorer,
    )
    val = read_all(
        build_lists(validation, embedder, args.cache, ranker, 3, 0, detect_language), scorer
    )
    print(
        "| decoding, confidence inputs | held out: EM / F1 (all) | held out: shown "
        "| held out: precision | validation: EM / F1 (all) "
        "| validation: shown (of answered) | validation: precision |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(row(held, val, "best span, shipped inputs", False, False))
    print(row(held, val, "best span, + expected_right", False, True))
    print(row(held, val, "expected_right decoding, shipped inputs", True, False))
    print(row(held, val, "expected_right decoding, + expected_right", True, True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
