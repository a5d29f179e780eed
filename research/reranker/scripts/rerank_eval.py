"""The cross-encoder reranker measured beside the first stage, in one run.

    python scripts/rerank_eval.py --model-dir bot/data --work DIR [--cache DIR] [--out FILE]

Rows: the first-stage ranker alone; the cross-encoder alone over the first stage's top k;
the two combined with the answer rule (k = 3, 5, 8), each fitted on the training passages held
out from fine-tuning. Data, kept apart: those held-out training questions (where the rule was
fitted), NorQuAD validation (each question against its own passage, the same passage without
the answer sentence and another document's passage), and the article's dev file by language.
The shipped int8 graph is measured throughout; the fp32 graph beside it on a sample of the
validation questions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.crossencoder import AnswerRule, apply_rule, load_scorer  # noqa: E402
from bot.qafile import QAItem, read_qa_file  # noqa: E402
from bot.ranker import load_model  # noqa: E402
from bot.reranker_calibration import ScoreCache, Scored, fit_rule, score_all  # noqa: E402
from bot.reranker_data import (  # noqa: E402
    QuestionLists,
    build_lists,
    evidence_lists,
    heldout_contexts,
)
from index.article import read_article  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

DEV = REPO / "data" / "article_dev_qa.jsonl"
TRAIN = REPO / "data" / "norquad" / "train.jsonl"
VALIDATION = REPO / "data" / "norquad" / "validation.jsonl"
ARTICLE = REPO / "index" / "data" / "article.txt"
KS = (3, 5, 8)


def _order(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind="stable")


def ranking_figures(rows: Sequence[dict[str, Scored]], score: Any, k: int) -> dict[str, float]:
    """hit@1 and hit@3 of a scoring of each own list's top k (the first stage's order below
    it), over questions whose passage holds the answer."""
    h1 = h3 = n = 0
    for r in rows:
        own = r["own"].lists
        if not own.answerable:
            continue
        n += 1
        top = np.asarray(score(r["own"], k))
        order = np.concatenate([_order(top), np.arange(k, len(own.gold))])
        h1 += bool(own.gold[order[:1]].any())
        h3 += bool(own.gold[order[:3]].any())
    return {"hit_at_1": h1 / max(n, 1), "hit_at_3": h3 / max(n, 1), "n": n}


def first_stage_figures(rows: Sequence[dict[str, Scored]], second_within: float
                        ) -> dict[str, float]:
    """The first stage alone: its ranking, its own abstainer and second-citation rule."""
    out = ranking_figures(rows, lambda s, k: s.lists.first_stage[:k], 8)
    out.update(_decisions(rows, lambda s: (s.lists.abstain_logit < 0,
                                           _cite_by_gap(s.lists.first_stage, second_within))))
    return out


def _cite_by_gap(scores: np.ndarray, within: float) -> list[int]:
    order = _order(scores)
    if len(order) > 1 and scores[order[0]] - scores[order[1]] <= within:
        return [int(order[0]), int(order[1])]
    return [int(order[0])]


def _decisions(rows: Sequence[dict[str, Scored]], decide: Any) -> dict[str, float]:
    """Citations and abstentions: decide(scored list) -> (abstain, cited indices)."""
    cited_gold, cites, false_abst, n = 0, [], 0, 0
    unanswerable_own = []
    for r in rows:
        own = r["own"]
        abstain, cite = decide(own)
        if not own.lists.answerable:
            unanswerable_own.append(abstain)
            continue
        n += 1
        false_abst += bool(abstain)
        cites.append(len(cite))
        cited_gold += bool(own.lists.gold[cite].any())
    out: dict[str, float] = {
        "gold_among_citations": cited_gold / max(n, 1),
        "citations_per_question": float(np.mean(cites)) if cites else 0.0,
        "false_abstention": false_abst / max(n, 1)}
    for key in ("same_topic", "other"):
        got = [decide(r[key])[0] for r in rows if key in r]
        if got:
            out[f"{key}_abstained"] = float(np.mean(got))
            out[f"{key}_n"] = len(got)
    if unanswerable_own:
        out["unanswerable_abstained"] = float(np.mean(unanswerable_own))
        out["unanswerable_n"] = len(unanswerable_own)
    return out


def combined_figures(rows: Sequence[dict[str, Scored]], rule: AnswerRule, null: float
                     ) -> dict[str, float]:
    """The full answer rule: combined ranking, abstention, citations."""
    k = rule.k

    def decide(s: Scored) -> tuple[bool, list[int]]:
        got = apply_rule(rule, null, s.ce[:k], s.lists.first_stage[:k], s.lists.abstain_logit)
        return got.abstain, list(got.cite)

    out = ranking_figures(rows, lambda s, kk: rule.ce_weight * s.ce[:kk]
                          + rule.first_stage_weight * s.lists.first_stage[:kk], k)
    out.update(_decisions(rows, decide))
    return out


def _dev_items() -> tuple[list[QAItem], str]:
    text = read_article(ARTICLE).text
    return read_qa_file(DEV).items, text


def main() -> int:
    """Run every measurement and print (and optionally write) the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "bot" / "data",
                        help="reranker.json and the ONNX graphs")
    parser.add_argument("--fp32", default="reranker-fp32.onnx",
                        help="the fp32 graph's file name in --work (or --model-dir)")
    parser.add_argument("--work", type=Path, required=True,
                        help="training output dir: its score caches are reused")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "articlebot")
    parser.add_argument("--fp32-sample", type=int, default=150,
                        help="validation questions the fp32 graph is compared on")
    parser.add_argument("--val-limit", type=int,
                        help="measure only the first N validation questions (file order)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    meta = json.loads((args.model_dir / "reranker.json").read_text(encoding="utf-8"))
    seed = int(meta["recipe"]["seed"])
    null = float(meta["null_logit"])
    ranker = load_model()
    embedder = make_embedder("e5-small-q4")
    result: dict[str, Any] = {"meta": {k: meta[k] for k in ("recipe", "heldout_questions",
                                                            "fine_tune_questions")}}
    # the held-out training questions, as the calibration saw them
    train_items = [i for i in read_qa_file(TRAIN).items if i.context is not None]
    held = heldout_contexts(train_items, seed)
    held_lists = [q for q in build_lists(train_items, embedder, args.cache, ranker, max(KS),
                                         seed) if q.item.context in held]
    random.Random(seed).shuffle(held_lists)
    held_lists = held_lists[:int(meta.get("calibration_questions", len(held_lists)))]
    val_lists = build_lists(read_qa_file(VALIDATION).items, embedder, args.cache, ranker,
                            max(KS), seed)[:args.val_limit]
    dev_items, article = _dev_items()
    dev_lists = evidence_lists(dev_items, article, embedder, args.cache, ranker, max(KS))

    int8 = load_scorer(args.model_dir, threads=args.threads)
    stem = Path(meta["onnx"]).stem
    eval_cache = ScoreCache(int8.score, args.work / f"scores-{stem}-eval.json")
    val_rows = score_all(val_lists, eval_cache, "validation")
    dev_rows = score_all(dev_lists, eval_cache, "dev")
    # the held-out questions were scored when the rule was fitted: wait for that to finish
    while "rule" not in meta:
        time.sleep(10)
        meta = json.loads((args.model_dir / "reranker.json").read_text(encoding="utf-8"))
    held_rows = score_all(held_lists, ScoreCache(int8.score, args.work / f"scores-{stem}.json"),
                          "held-out")

    def by_lang(lists: Sequence[QuestionLists], rows: Sequence[dict[str, Scored]],
                lang: str | None) -> list[dict[str, Scored]]:
        return [r for q, r in zip(lists, rows, strict=True)
                if lang is None or (q.item.lang or "nb") == lang]

    datasets = {"heldout_train": held_rows, "validation": val_rows,
                "dev_all": by_lang(dev_lists, dev_rows, None),
                "dev_nb": by_lang(dev_lists, dev_rows, "nb"),
                "dev_en": by_lang(dev_lists, dev_rows, "en")}
    ce_alone = {k: (lambda s, kk: s.ce[:kk]) for k in KS}
    shipped_k = int(meta["rule"]["k"])
    for name, rows in datasets.items():
        block: dict[str, Any] = {"first_stage": first_stage_figures(
            rows, ranker.second_citation_within)}
        for k in KS:
            rule, _ = fit_rule(held_rows, k, null, seed=seed)
            block[f"ce_alone_k{k}"] = ranking_figures(rows, ce_alone[k], k)
            block[f"combined_k{k}"] = combined_figures(rows, rule, null)
        block["shipped"] = combined_figures(rows, AnswerRule.from_json(meta["rule"]), null)
        result[name] = block
    result["shipped_k"] = shipped_k

    # fp32 beside int8 on a sample of validation questions (own lists, ranking only)
    fp32_path = args.work / args.fp32
    if fp32_path.exists():
        fp32 = load_scorer(args.model_dir, onnx_name=str(fp32_path.resolve()),
                           threads=args.threads)
        cache32 = ScoreCache(fp32.score, args.work / f"scores-{fp32_path.stem}.json")
        sample = [QuestionLists(q.item, q.own, None, None) for q in val_lists[:args.fp32_sample]]
        rows32 = score_all(sample, cache32, "fp32")
        rows8 = val_rows[:args.fp32_sample]
        rule = AnswerRule.from_json(meta["rule"])
        result["fp32_vs_int8"] = {
            "n": len(sample),
            "fp32_ce_alone": ranking_figures(rows32, ce_alone[shipped_k], shipped_k),
            "int8_ce_alone": ranking_figures(rows8, ce_alone[shipped_k], shipped_k),
            "fp32_combined": ranking_figures(rows32, lambda s, kk: rule.ce_weight * s.ce[:kk]
                                             + rule.first_stage_weight
                                             * s.lists.first_stage[:kk], shipped_k),
            "int8_combined": ranking_figures(rows8, lambda s, kk: rule.ce_weight * s.ce[:kk]
                                             + rule.first_stage_weight
                                             * s.lists.first_stage[:kk], shipped_k),
            "max_abs_score_diff": float(max(np.max(np.abs(a["own"].ce - b["own"].ce))
                                            for a, b in zip(rows32, rows8, strict=True)))}

    # reranker latency: scoring the shipped k candidates of each dev question, uncached
    int8 = load_scorer(args.model_dir, threads=args.threads)  # now with the fitted rule
    times = []
    for q in dev_lists:
        c = q.own.top(shipped_k)
        t0 = time.perf_counter()
        int8.rerank(c.question, c.sentences, c.first_stage, c.abstain_logit)
        times.append((time.perf_counter() - t0) * 1000)
    result["reranker_latency_ms"] = {"p50": statistics.median(times), "max": max(times),
                                     "n": len(times)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
