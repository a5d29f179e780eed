"""Short answers: how often the one shown is right, and how often one is shown.

    python scripts/short_answers.py [--cache DIR]            # the table (docs/quality.md)
    python scripts/short_answers.py --train [--cache DIR]    # refit bot/data/short_answer.json

Each question is ranked against its own passage by the shipped ranker (the variant of its
detected language) and abstained on as the product would; the short answer comes from the
top sentence, the one the answer cites first. A short answer is right when its token F1
against the gold answer is at least `BAR` (0.5; exact match is reported too). Precision: right
among those shown; coverage: shown among all questions. `--train` fits the confidence model on
NorQuAD **train** and picks, on train, the lowest probability at which the short answers shown
are at least `TARGET` (0.9) precise; validation and the dev files only measure it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.metrics import exact_match, token_f1  # noqa: E402
from bot.eval.qafile import QAItem, read_qa_file  # noqa: E402
from bot.language import detect_language  # noqa: E402
from bot.ranking.features import abstain_row  # noqa: E402
from bot.ranking.model import LinearModel, RankerModel, load_model  # noqa: E402
from bot.ranking.training import embed_questions, make_example, prepare_passages  # noqa: E402
from bot.span import (  # noqa: E402
    FEATURES,
    ShortAnswerModel,
    candidate,
    candidate_features,
    read_model,
)
from core.text import fold_spaces as fold  # noqa: E402
from index.article import read_article  # noqa: E402
from index.embedder import SentenceEmbedder, make_embedder  # noqa: E402

BAR = 0.5
TARGET = 0.9
FOLDS = 5
MIN_SHOWN = 20  # a threshold is judged on at least this many answers
# The logistic regression's inverse L2 strength. A grid (1, 0.1, 0.01) showed 35, 33 and 37
# out-of-fold answers at TARGET: no difference beyond noise, so one middle value is fixed.
C_GRID = (0.1,)
NORQUAD = REPO / "data" / "norquad"
DEV_FILES = (REPO / "data" / "article_dev_qa.jsonl", REPO / "data" / "article_dev_more.jsonl")
ARTICLE = REPO / "index" / "data" / "article.txt"
OUT = REPO / "bot" / "data" / "short_answer.json"


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


def _dev_items() -> list[QAItem]:
    text = read_article(ARTICLE).text
    out = []
    for path in DEV_FILES:
        for i in read_qa_file(path).items:
            if i.answerable and i.answers:
                out.append(QAItem(id=i.id, question=i.question, answers=i.answers,
                                  evidence=i.evidence, answerable=True, lang=i.lang,
                                  context=text))
    return out


def _golds(item: QAItem) -> list[str]:
    if item.spans:
        return [s.text for s in item.spans]
    return list(item.answers)


def cases(items: Sequence[QAItem], embedder: SentenceEmbedder, cache: Path | None,
          ranker: RankerModel) -> list[Case]:
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
            top_gold = any(fold(e) in fold(sentence) for e in item.evidence)
        else:
            top_gold = bool(ex.gold[int(order[0])])
        ranked = [float(scores[i]) for i in order[:2]]
        c = candidate(ex.question, sentence, item.question)
        if c is None:
            out.append(Case(item.question, None, None, None, False, False, abstained,
                            top_gold, group))
            continue
        golds = _golds(item)
        out.append(Case(item.question, c.kind, c.text,
                        candidate_features(ex.question, sentence, item.question, c, ranked,
                                           answerable),
                        token_f1(c.text, golds) >= BAR, exact_match(c.text, golds) == 1.0,
                        abstained, top_gold, group))
    return out


def _fit_linear(x: np.ndarray, y: np.ndarray, c: float) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=5000, random_state=0)
    clf.fit((x - mean) / scale, y)
    return LinearModel(FEATURES, mean, scale, np.asarray(clf.coef_[0]),
                       float(clf.intercept_[0]))


def threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The lowest probability at which the answers shown, and those of every stricter
    threshold that shows at least MIN_SHOWN, are TARGET precise (1.0, nothing shown, when
    there is none). The out-of-fold precision curve
    crosses TARGET more than once; the lowest crossing (the most coverage) is an edge that
    held-out data did not keep (validation 8 of 10 right there), so a threshold is taken only
    where no stricter one falls below TARGET."""
    order = np.argsort(-p, kind="stable")
    precision = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    ok = precision >= TARGET
    ok[:MIN_SHOWN - 1] = True
    last = int(np.argmin(ok)) - 1 if not ok.all() else len(ok) - 1
    return float(p[order[last]]) if last >= MIN_SHOWN - 1 else 1.0


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


def figures(all_cases: Sequence[Case], model: ShortAnswerModel | None,
            old_kinds_only: bool = False) -> tuple[int, int, int, int]:
    """(questions, shown, right, exact) with the model's threshold, or showing every
    candidate of the earlier kinds (no model: the behaviour before the confidence)."""
    shown = right = exact = 0
    for c in all_cases:
        if c.features is None or c.abstained:
            continue
        if old_kinds_only and c.kind == "place":
            continue
        if model is not None:
            p = float(model.model.probability(c.features[None, :])[0])
            if p < model.show_above:
                continue
        shown += 1
        right += c.right
        exact += c.exact
    return len(all_cases), shown, right, exact


def _row(name: str, fig: tuple[int, int, int, int]) -> str:
    n, shown, right, exact = fig
    precision = f"{right / shown:.3f} ({right}/{shown})" if shown else "n/a (0 shown)"
    em = f"{exact / shown:.3f}" if shown else "n/a"
    return f"| {name} | {n} | {shown / n:.3f} ({shown}) | {precision} | {em} |"


def main() -> int:
    """Print the short-answer table; with --train, first refit and write the model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "articlebot",
                        help="embedding cache (reruns are fast)")
    parser.add_argument("--train", action="store_true",
                        help=f"refit the confidence model on NorQuAD train, write {OUT}")
    args = parser.parse_args()
    e5 = make_embedder("e5-small-q4")
    ranker = load_model()
    train_file = read_qa_file(NORQUAD / "train.jsonl")
    train = cases(train_file.items, e5, args.cache, ranker)
    if args.train:
        model, c = fit(train)
        data = {**model.to_json(), "meta": {"l2_inverse_strength": c, "folds": FOLDS,
            "source": "scripts/short_answers.py --train", "train_file": "train.jsonl",
            "train_sha256": train_file.sha256, "right_when_token_f1_at_least": BAR,
            "target_precision_on_train": TARGET,
            "ranker_train_sha256": ranker.meta.get("train_sha256")}}
        OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {OUT}: show above {model.show_above:.3f}", file=sys.stderr)
    model = read_model()
    val = cases(read_qa_file(NORQUAD / "validation.jsonl").items, e5, args.cache, ranker)
    dev = cases(_dev_items(), e5, args.cache, ranker)
    print(f"Right: token F1 >= {BAR} against the gold span (EM: exact match). Threshold "
          f"{model.show_above if model else float('nan'):.3f}, chosen on NorQuAD train for "
          f"precision >= {TARGET} there.\n")
    print("| data, short answers | questions | shown (coverage) | precision | EM precision |")
    print("| --- | --- | --- | --- | --- |")
    for name, data_cases in (("NorQuAD train", train), ("NorQuAD validation", val),
                             ("dev files (answerable, with answers)", dev)):
        print(_row(f"{name}, every span found, if all were shown", figures(data_cases, None)))
        print(_row(f"{name}, above the threshold", figures(data_cases, model)))
    print("\nThe ranker's top sentence is gold (hit@1, all questions): " + ", ".join(
        f"{name} {np.mean([c.top_gold for c in cs]):.3f}"
        for name, cs in (("train", train), ("validation", val), ("dev", dev))))
    print("\nDev short answers shown (question -> answer):")
    for c in dev:
        if c.features is not None and not c.abstained and model is not None and float(
                model.model.probability(c.features[None, :])[0]) >= model.show_above:
            print(f"- {c.question} -> {c.text} ({'right' if c.right else 'wrong'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
