"""Questions across articles: how the route step's choices (candidate articles, the weight of
answerability beside the nearest cosine) decide hit@1 and how often the own article answers.

    python scripts/route_weights.py --file NORQUAD/train.jsonl [--store DIR]

Every passage of the file is indexed into one store (a temporary one unless --store is given;
an existing store is reused, unchanged passages are skipped), then each question is asked
across all of them, exactly as `bot.routing` does (`bot.training.route.collect`), and
every (articles, weight) pair is scored from those rankings. `articlebot train-route` writes
the chosen weight; `articlebot eval FILE --article all` then measures it on validation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.engine import Engine  # noqa: E402
from bot.eval.qafile import read_qa_file  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.training.route import WEIGHTS, collect, figures  # noqa: E402

ARTICLES = (1, 2, 3, 4, 6, 8)


def main() -> int:
    """Print hit@1 / own-article rate for every (articles, weight)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--file",
        type=Path,
        required=True,
        help="Q&A items with contexts, e.g. NorQuAD's train.jsonl",
    )
    parser.add_argument("--store", help="store to index into (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store) if args.store else Path(tmp) / "s"
        rows = collect(read_qa_file(args.file).items, Engine(Settings(store=store)), max(ARTICLES))
    print(f"{len(rows)} questions of {args.file}; cells: hit@1 / own article answers")
    print("articles " + " ".join(f"{f'w={w}':>13}" for w in WEIGHTS))
    for m in ARTICLES:
        cells = [figures(rows, m, w) for w in WEIGHTS]
        print(f"{m:>8} " + " ".join(f"{f'{hit:.3f} / {own:.3f}':>13}" for hit, own in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
