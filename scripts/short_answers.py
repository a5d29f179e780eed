"""Short answers: how often the one shown is right, and how often one is shown.

    python scripts/short_answers.py --norquad DIR [--cache DIR]   # the table (docs/quality.md)

The model is fitted by `articlebot train-short-answer NORQUAD/train.jsonl --out
bot/data/short_answer.json` (`bot.training.short_answer`); this script only measures it.

Each question is ranked against its own passage by the shipped ranker (the variant of its
detected language) and abstained on as the product would; the short answer comes from the
top sentence, the one the answer cites first. A short answer is right when its token F1
against the gold answer is at least `BAR` (0.5; exact match is reported too). Precision: right
among those shown; coverage: shown among all questions. The threshold was chosen on NorQuAD
**train**; validation and the dev files only measure it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.qafile import QAItem, read_qa_file  # noqa: E402
from bot.ranking.model import load_model  # noqa: E402
from bot.short_answer import ShortAnswerModel, read_model  # noqa: E402
from bot.training.short_answer import BAR, TARGET, Case, cases  # noqa: E402
from index.article import read_article  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

DEV_FILES = (
    REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl",
    REPO / "data" / "article_dev_more.jsonl",
)
ARTICLE = REPO / "index" / "data" / "article.txt"


def _dev_items() -> list[QAItem]:
    text = read_article(ARTICLE).text
    out = []
    for path in DEV_FILES:
        for i in read_qa_file(path).items:
            if i.answerable and i.answers:
                out.append(
                    QAItem(
                        id=i.id,
                        question=i.question,
                        answers=i.answers,
                        evidence=i.evidence,
                        answerable=True,
                        lang=i.lang,
                        context=text,
                    )
                )
    return out


def figures(
    all_cases: Sequence[Case], model: ShortAnswerModel | None, old_kinds_only: bool = False
) -> tuple[int, int, int, int]:
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
    """Print the short-answer table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "articlebot",
        help="embedding cache (reruns are fast)",
    )
    parser.add_argument(
        "--norquad",
        type=Path,
        required=True,
        help="the folder holding NorQuAD's train.jsonl and validation.jsonl",
    )
    args = parser.parse_args()
    e5 = make_embedder("e5-small-q4")
    ranker = load_model()
    train_file = read_qa_file(args.norquad / "train.jsonl")
    train = cases(train_file.items, e5, args.cache, ranker)
    model = read_model()
    val = cases(read_qa_file(args.norquad / "validation.jsonl").items, e5, args.cache, ranker)
    dev = cases(_dev_items(), e5, args.cache, ranker)
    print(
        f"Right: token F1 >= {BAR} against the gold span (EM: exact match). Threshold "
        f"{model.show_above if model else float('nan'):.3f}, chosen on NorQuAD train for "
        f"precision >= {TARGET} there.\n"
    )
    print("| data, short answers | questions | shown (coverage) | precision | EM precision |")
    print("| --- | --- | --- | --- | --- |")
    for name, data_cases in (
        ("NorQuAD train", train),
        ("NorQuAD validation", val),
        ("dev files (answerable, with answers)", dev),
    ):
        print(_row(f"{name}, every span found, if all were shown", figures(data_cases, None)))
        print(_row(f"{name}, above the threshold", figures(data_cases, model)))
    print(
        "\nThe ranker's top sentence is gold (hit@1, all questions): "
        + ", ".join(
            f"{name} {np.mean([c.top_gold for c in cs]):.3f}"
            for name, cs in (("train", train), ("validation", val), ("dev", dev))
        )
    )
    print("\nDev short answers shown (question -> answer):")
    for c in dev:
        if (
            c.features is not None
            and not c.abstained
            and model is not None
            and float(model.model.probability(c.features[None, :])[0]) >= model.show_above
        ):
            print(f"- {c.question} -> {c.text} ({'right' if c.right else 'wrong'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
