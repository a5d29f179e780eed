"""Span reader recipes compared: each fine-tuned on NorQuAD train's fine-tuning passages and
measured on the held-out passages' questions with the answer's own sentence given, so that
only the reader differs (training-time; needs the `train` extra).

    python scripts/reader_recipes.py --norquad DIR --work DIR [--cache DIR] \\
        '{"reader_tap": 10, "reader_layers": 2, "reader_epochs": 2, "reader_lr": 1e-4}' \\
        '{"reader_tap": 6, "reader_layers": 2, "reader_epochs": 2, "reader_lr": 1e-4}' ...

Each recipe's fields are `articlebot train-reranker`'s (`bot/training/reranker/recipe.py`);
the shipped cross-encoder graph is copied into WORK and tapped at each recipe's layer, and
the examples for a tap are computed once there. Exact match and token F1 as `articlebot eval`
counts them, over the spans read in the gold sentence (float32; the shipped head is int8).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.metrics import exact_match, token_f1  # noqa: E402
from bot.eval.qafile import QAItem, read_qa_file  # noqa: E402
from bot.language import detect_language  # noqa: E402
from bot.ranking.crossencoder import TAP_OUTPUT, load_scorer  # noqa: E402
from bot.ranking.e5file import E5File, default_path  # noqa: E402
from bot.ranking.model import load_model  # noqa: E402
from bot.ranking.reader import best_span  # noqa: E402
from bot.training.reranker.candidates import (  # noqa: E402
    QuestionLists,
    build_lists,
    heldout_contexts,
)
from bot.training.reranker.packing import tap_graph  # noqa: E402
from bot.training.reranker.reader.examples import (  # noqa: E402
    answer_in,
    load_examples,
    save_examples,
    span_examples,
)
from bot.training.reranker.reader.loop import train_head  # noqa: E402
from bot.training.reranker.recipe import TrainSettings  # noqa: E402
from index.embedder import make_embedder  # noqa: E402


def _untapped(shipped: Path, out: Path) -> None:
    """The shipped graph without its tap (each recipe taps its own layer)."""
    import onnx

    graph = onnx.load(str(shipped), load_external_data=False)
    for node in [n for n in graph.graph.node if TAP_OUTPUT in n.output]:
        graph.graph.node.remove(node)
    for output in [o for o in graph.graph.output if o.name == TAP_OUTPUT]:
        graph.graph.output.remove(output)
    out.write_bytes(graph.SerializeToString())


def main() -> int:
    """Print one line of figures for each recipe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", help="recipe JSON objects")
    parser.add_argument("--norquad", type=Path, required=True, help="NorQuAD's folder")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the runs")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "articlebot", help="cache folder"
    )
    args = parser.parse_args()
    import torch

    items = [i for i in read_qa_file(args.norquad / "train.jsonl").items if i.context]
    held = heldout_contexts(items, 0)
    embedder, ranker = make_embedder("e5-small-q4"), load_model()

    def lists(group: list[QAItem]) -> list[QuestionLists]:
        return build_lists(group, embedder, args.cache, ranker, 5, 0, detect_language, True)

    fit_lists = lists([i for i in items if i.context not in held])
    held_lists = lists([i for i in items if i.context in held])
    e5 = E5File(default_path())
    for n, given in enumerate(args.recipes):
        recipe = TrainSettings(**json.loads(given))
        graph = args.work / f"tap{recipe.reader_tap}"
        if not (graph / "reranker.onnx").exists():
            graph.mkdir(parents=True, exist_ok=True)
            meta = json.loads((REPO / "bot" / "data" / "reranker.json").read_text("utf-8"))
            meta.pop("reader", None)  # the head is the one being compared
            (graph / "reranker.json").write_text(json.dumps(meta), encoding="utf-8")
            _untapped(REPO / "bot" / "data" / "reranker.onnx", graph / "reranker.onnx")
        tap_graph(graph / "reranker.onnx", recipe.reader_tap, e5.header.hidden)
        scorer = load_scorer(graph, graph / "completed")
        cache = graph / "examples.npz"
        if not cache.exists():
            save_examples(span_examples(fit_lists, scorer, recipe.rerank_k), cache)
        run = args.work / f"recipe{n}"
        run.mkdir(exist_ok=True)
        head = train_head(e5, load_examples(cache), run, recipe, lambda s: None)
        ems, f1s = [], []
        with torch.no_grad():
            for q in held_lists:
                golds = [s.text for s in q.item.spans]
                own = q.own
                gold = next(
                    (
                        s
                        for s, g in zip(own.sentences, own.gold, strict=True)
                        if g and answer_in(s, golds)
                    ),
                    None,
                )
                if gold is None:
                    continue
                _, (reading,) = scorer.score_rows(own.question, [gold])
                hidden = torch.from_numpy(reading.hidden[None].astype(np.float32))
                start, end = head(hidden, torch.ones(hidden.shape[:2]))
                span = best_span(
                    start[0].double().numpy(),
                    end[0].double().numpy(),
                    reading,
                    recipe.reader_max_tokens,
                )
                text = gold[span.start : span.end] if span else ""
                ems.append(exact_match(text, golds))
                f1s.append(token_f1(text, golds))
        print(
            f"{given}: exact match {np.mean(ems):.3f}, token F1 {np.mean(f1s):.3f} "
            f"({len(ems)} held-out questions, the gold sentence given)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
