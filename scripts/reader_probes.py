"""Two probes of the span reader, measured and not shipped: answer-type features in its
confidence model, and the head choosing among the answer's best three sentences.

    python scripts/reader_probes.py --norquad DIR [--cache DIR]

Both read NorQuAD train's held-out passages (the ones `articlebot train-reranker` fits the
answer rule and the reader's confidence on) and NorQuAD validation, each question ranked
against its own passage by the shipped ranker, its best three sentences rescored by the
shipped cross-encoder and answer rule, and the shipped head run over each of the three.

1. Confidence: the shipped model's inputs, then with answer-type features of the span
   added: whether its shape fits what the question asks (a number for "hvor mange", a date
   or number for "når", a name for "hvem" and "hvor"), whether a typed question's span does
   not fit, and the share of the span's words the question already holds. Fitted on the
   held-out passages as the training command fits it (five passage folds, the threshold on
   out-of-fold probabilities for 90% precision judged from 50 shown on), then applied to
   validation with that threshold.
2. Sentence choice: the cited sentence is the one with the highest combined score plus `w`
   times the head's span margin there (clipped to +-10), for a grid of `w`; sentence hit@1,
   exact match and F1 of the chosen sentence's span, over every question.
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
from bot.ranking.crossencoder import load_scorer  # noqa: E402
from bot.ranking.features import question_info, sentence_info  # noqa: E402
from bot.ranking.lexical import tokenize  # noqa: E402
from bot.ranking.model import load_model  # noqa: E402
from bot.ranking.reader import READER_FEATURES, span_features  # noqa: E402
from bot.training.reranker.candidates import build_lists, heldout_contexts  # noqa: E402
from bot.training.reranker.reader.calibration import FOLDS, cross_fitted  # noqa: E402
from core.records import Sentence  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

PRECISION = 0.9
CLIP = 10.0
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
EXTRA = ("type_match", "type_mismatch", "echo")


@dataclass(frozen=True)
class Candidate:
    """One of a question's three sentences as the head reads it."""

    combined: float
    margin: float
    gold: bool
    em: float
    f1: float


@dataclass(frozen=True)
class Read:
    """One question: the cited sentence's span with its features, and every candidate."""

    features: np.ndarray  # the shipped confidence inputs, then `EXTRA`
    right: bool
    answered: bool
    shown_allowed: bool  # "why" and "how" questions show no short answer
    group: int
    order: tuple[int, ...]
    candidates: tuple[Candidate, ...]


def answer_type(question: str, span: str) -> np.ndarray:
    """`EXTRA` for one span."""
    q = question_info(question)
    info = sentence_info(Sentence("span", 0, "body", span, 0, len(span)), tokenize(span))
    fits = (
        (q.asks_number and info.has_digit)
        or (q.asks_when and (info.has_time or info.has_digit))
        or ((q.asks_who or q.asks_where) and bool(info.names))
    )
    typed = q.asks_number or q.asks_when or q.asks_who or q.asks_where
    words = tokenize(span, expand=True)
    echo = float(np.mean([w in set(q.terms) for w in words])) if words else 0.0
    return np.array([float(fits), float(typed and not fits), echo])


def read_all(items_path: Path, held_only: bool, cache: Path) -> list[Read]:
    """Every answerable question of the file (only the held-out passages' when asked)."""
    items = [i for i in read_qa_file(items_path).items if i.answerable]
    if held_only:
        held = heldout_contexts(read_qa_file(items_path).items, 0)
        items = [i for i in items if i.context in held]
    scorer = load_scorer(None, cache / "reranker")
    if scorer.reader is None:
        raise SystemExit("the shipped reranker has no span reader")
    reader = scorer.reader
    lists = build_lists(
        items, make_embedder("e5-small-q4"), cache, load_model(), 3, 0, detect_language
    )
    out = []
    for q in lists:
        own = q.own
        verdict = scorer.rerank(own.question, own.sentences, own.first_stage, own.abstain_logit)
        golds = tuple(s.text for s in q.item.spans)
        cands, cited = [], None
        for i, reading in enumerate(verdict.readings):
            span = reader.span(reading)
            text = reading.sentence[span.start : span.end] if span else ""
            cands.append(
                Candidate(
                    combined=float(verdict.combined[i]),
                    margin=span.margin if span else -CLIP,
                    gold=bool(own.gold[i]),
                    em=exact_match(text, golds),
                    f1=token_f1(text, golds),
                )
            )
            if i == verdict.order[0] and span is not None:
                base = span_features(span, question_info(own.question), verdict.answerable)
                cited = (np.concatenate([base, answer_type(own.question, text)]), text)
        if cited is None:
            continue
        context = (q.item.context or "").encode("utf-8")
        out.append(
            Read(
                features=cited[0],
                right=short_right(cited[1], golds) == 1.0,
                answered=not verdict.abstain,
                shown_allowed=question_intent(own.question).wants_short_answer,
                group=int(hashlib.sha1(context).hexdigest(), 16) % FOLDS,
                order=verdict.order,
                candidates=tuple(cands),
            )
        )
    return out


def confidence_row(held: Sequence[Read], val: Sequence[Read], columns: int, name: str) -> str:
    """One row of the confidence table: the model over the first `columns` features."""
    names = (*READER_FEATURES, *EXTRA)[:columns]
    answered = [r for r in held if r.answered]
    x = np.stack([r.features[:columns] for r in answered])
    y = np.array([r.right for r in answered], dtype=float)
    groups = np.array([r.group for r in answered])
    model, t, oof = cross_fitted(x, y, groups, PRECISION, names)
    shown = oof >= t
    v_answered = [r for r in val if r.answered]
    v = [r for r in v_answered if r.shown_allowed]
    vp = model.probability(np.stack([r.features[:columns] for r in v]))
    vy = np.array([r.right for r in v], dtype=float)
    v_shown = vp >= t
    return (
        f"| {name} | {shown.mean():.3f} | {y[shown].mean() if shown.any() else 1.0:.3f} "
        f"| {v_shown.sum() / len(v_answered):.3f} ({int(v_shown.sum())}) "
        f"| {vy[v_shown].mean() if v_shown.any() else 1.0:.3f} |"
    )


def choice_row(rows: Sequence[Read], w: float) -> tuple[float, float, float]:
    """Sentence hit@1, exact match and F1 when the head's margin weighs in the choice."""
    picked = [
        max(
            r.candidates,
            key=lambda c: c.combined + w * float(np.clip(c.margin, -CLIP, CLIP)),
        )
        for r in rows
    ]
    return (
        float(np.mean([c.gold for c in picked])),
        float(np.mean([c.em for c in picked])),
        float(np.mean([c.f1 for c in picked])),
    )


def main() -> int:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norquad", type=Path, required=True, help="NorQuAD's folder")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "articlebot", help="cache folder"
    )
    args = parser.parse_args()
    held = read_all(args.norquad / "train.jsonl", True, args.cache)
    val = read_all(args.norquad / "validation.jsonl", False, args.cache)
    base = len(held[0].features) - len(EXTRA)
    print(
        "| confidence inputs | held out: shown | held out: precision "
        "| validation: shown (of answered) | validation: precision |"
    )
    print("| --- | --- | --- | --- | --- |")
    print(confidence_row(held, val, base, "shipped"))
    print(confidence_row(held, val, base + 2, "+ type match, type mismatch"))
    print(confidence_row(held, val, base + 3, "+ type match, type mismatch, echo"))
    print("\n| w | held out: hit@1 / EM / F1 | validation: hit@1 / EM / F1 |")
    print("| --- | --- | --- |")
    for w in WEIGHTS:
        h, v = choice_row(held, w), choice_row(val, w)
        print(
            f"| {w} | {h[0]:.3f} / {h[1]:.3f} / {h[2]:.3f} | {v[0]:.3f} / {v[1]:.3f} / {v[2]:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
