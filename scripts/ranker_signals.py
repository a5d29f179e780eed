"""Which training signals make the first stage hold on readers' own words: one table, one run.

    python scripts/ranker_signals.py --datasets DIR [--cache DIR] [--norquad] [--out FILE]
        [--recipe NAME ...]

Trains the ranker and abstainer (`articlebot train-ranker` on NorQuAD train) once per recipe:
without added signals (the recipe before), with messy copies of half the questions
(`--noise 0.5`), with cross-lingual XQuAD pairs (`--cross-lingual`), with both, and with the
word-overlap features dropped from a share of the lists (`--lexical-dropout`), and with the
abstainer shown a share of its questions as if asked in other words (`--abstain-dropout`).
Each model is measured through `articlebot eval --reranker none` (the first stage alone) on
the readers' development set (`data/devset.jsonl`, never fitted to) and, with `--norquad`, on
NorQuAD validation with its negatives. DIR holds norquad/ and xquad/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVSET = REPO / "data" / "devset.jsonl"

# name -> train-ranker flags beyond the file (cross-lingual pairs are added by "xquad")
RECIPES: dict[str, list[str]] = {
    "NorQuAD only (the recipe before)": ["--noise", "0", "--lexical-dropout", "0"],
    "+ messy copies": ["--noise", "0.5", "--lexical-dropout", "0"],
    "+ cross-lingual pairs": ["--noise", "0", "--lexical-dropout", "0", "xquad"],
    "+ both": ["--noise", "0.5", "--lexical-dropout", "0", "xquad"],
    "lexical dropout 0.3 alone": ["--noise", "0", "--lexical-dropout", "0.3"],
    "+ both, lexical dropout 0.3": ["--noise", "0.5", "--lexical-dropout", "0.3", "xquad"],
    "+ both, lexical dropout 0.5": ["--noise", "0.5", "--lexical-dropout", "0.5", "xquad"],
    "+ both, lexical dropout 0.3, abstain dropout 0.5 (shipped)": [
        "--noise",
        "0.5",
        "--lexical-dropout",
        "0.3",
        "--abstain-dropout",
        "0.5",
        "xquad",
    ],
    "+ both, lexical dropout 0.3, abstain dropout 0.75": [
        "--noise",
        "0.5",
        "--lexical-dropout",
        "0.3",
        "--abstain-dropout",
        "0.75",
        "xquad",
    ],
    "+ both, lexical dropout 0.3, abstain dropout 1.0": [
        "--noise",
        "0.5",
        "--lexical-dropout",
        "0.3",
        "--abstain-dropout",
        "1.0",
        "xquad",
    ],
}
CATEGORIES = ("paraphrase", "messy", "english", "swedish", "danish", "nynorsk")


def _cli(args: list[str], env: dict[str, str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "bot", *args, "-q"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"articlebot {' '.join(args[:2])} failed: {r.stderr.strip()[-500:]}")


def main() -> None:
    """Train each recipe, measure it, print (and optionally write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, required=True, help="folder of norquad/ and xquad/")
    ap.add_argument("--cache", type=Path, help="embedding cache (reruns are fast)")
    ap.add_argument("--norquad", action="store_true", help="also measure NorQuAD validation")
    ap.add_argument("--out", type=Path, help="write the table here too")
    ap.add_argument(
        "--recipe",
        action="append",
        choices=list(RECIPES),
        metavar="NAME",
        help="measure only this recipe (repeatable; default: every recipe)",
    )
    args = ap.parse_args()
    recipes = {k: v for k, v in RECIPES.items() if not args.recipe or k in args.recipe}
    train = args.datasets / "norquad" / "train.jsonl"
    rows = [
        "| recipe | devset hit@1 / hit@3 | refused: answerable / same-topic | "
        + " / ".join(CATEGORIES)
        + " hit@1 | NorQuAD val hit@1 / hit@3 | false abst. | negatives abst. |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        for k, (name, flags) in enumerate(recipes.items()):
            model = Path(tmp) / f"ranker-{k}.json"
            extra = [f for f in flags if f != "xquad"]
            if "--abstain-dropout" not in extra:  # the recipes before it had none
                extra += ["--abstain-dropout", "0"]
            if "xquad" in flags:
                extra += ["--cross-lingual", str(args.datasets / "xquad")]
            env = dict(os.environ)
            _cli(
                ["train-ranker", str(train), "--out", str(model), "--cache", str(cache), *extra],
                env,
            )
            env["ARTICLEBOT_RANKER_FILE"] = str(model)
            dev_out = Path(tmp) / f"dev-{k}"
            _cli(["eval", str(DEVSET), "--out", str(dev_out), "--reranker", "none"], env)
            dev = json.loads((dev_out / "summary.json").read_text())
            cats = dev["by_category"]
            nq = "n/a | n/a | n/a"
            if args.norquad:
                nq_out = Path(tmp) / f"nq-{k}"
                val = args.datasets / "norquad" / "validation.jsonl"
                _cli(
                    [
                        "eval",
                        str(val),
                        "--out",
                        str(nq_out),
                        "--reranker",
                        "none",
                        "--add-negatives",
                    ],
                    env,
                )
                s = json.loads((nq_out / "summary.json").read_text())
                nq = (
                    f"{s['hit_at_1']:.3f} / {s['hit_at_3']:.3f} | "
                    f"{s['false_abstention_rate']:.3f} | {s['abstention_recall']:.3f}"
                )
            same = cats.get("unanswerable_same_topic", {}).get("abstention_recall")
            rows.append(
                f"| {name} | {dev['hit_at_1']:.3f} / {dev['hit_at_3']:.3f} | "
                f"{dev['false_abstention_rate']:.3f} / "
                f"{'n/a' if same is None else f'{same:.3f}'} | "
                + " / ".join(f"{cats[c]['hit_at_1']:.2f}" for c in CATEGORIES)
                + f" | {nq} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
