"""The cross-encoder reranker beside the first stage, in one run: the ablation table.

    python scripts/reranker_eval.py --norquad DIR [--model-dir DIR] [--cache DIR] [--fp32 FILE]
        [--out FILE]

Rows: the first-stage ranker alone (with its own abstainer and second-citation rule), the
cross-encoder alone over the first stage's top k, and the two combined by the shipped answer
rule. Data, kept apart: the training questions held out from fine-tuning (where the rule was
fitted), NorQuAD validation (each question against its own passage, the same passage without
the answer sentence, and another document's passage), and the article's dev file by language.
The candidate lists are the first stage's, as the answer path builds them; `articlebot eval`
measures the whole answer path (scripts/quality.py). With `--fp32 FILE` the fp32 graph is
compared with the shipped one on the first validation questions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.qafile import read_qa_file  # noqa: E402
from bot.language import detect_language  # noqa: E402
from bot.ranking.crossencoder import AnswerRule, apply_rule, load_scorer  # noqa: E402
from bot.ranking.model import RankerModel, load_model  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.training.examples import Example, make_example, prepare_passages  # noqa: E402
from bot.training.reranker.calibration import ScoreCache, Scored, score_all  # noqa: E402
from bot.training.reranker.candidates import (  # noqa: E402
    QuestionLists,
    build_lists,
    candidate_list,
    heldout_contexts,
)
from core.text import fold_spaces as fold  # noqa: E402
from index.article import read_article  # noqa: E402
from index.embedder import SentenceEmbedder, make_embedder  # noqa: E402

DEV = REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl"
ARTICLE = REPO / "index" / "data" / "article.txt"
LISTS_K = 8  # candidates kept per list (the rule uses its own k of them)


def _order(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind="stable")


def ranking(
    rows: Sequence[dict[str, Scored]], score: Callable[[Scored, int], np.ndarray], k: int
) -> dict[str, float]:
    """hit@1 and hit@3 of a scoring of each own list's top k (the first stage's order below
    it), over the questions whose passage holds the answer."""
    h1 = h3 = n = 0
    for r in rows:
        own = r["own"].lists
        if not own.answerable:
            continue
        n += 1
        order = np.concatenate(
            [_order(np.asarray(score(r["own"], k))), np.arange(k, len(own.gold))]
        )
        h1 += bool(own.gold[order[:1]].any())
        h3 += bool(own.gold[order[:3]].any())
    return {"hit_at_1": h1 / max(n, 1), "hit_at_3": h3 / max(n, 1), "n": n}


def decisions(
    rows: Sequence[dict[str, Scored]], decide: Callable[[Scored], tuple[bool, list[int]]]
) -> dict[str, float]:
    """Citations and abstentions, given decide(scored list) -> (abstain, cited indices)."""
    cited_gold, cites, false_abst, n = 0, [], 0, 0
    unanswerable = []
    for r in rows:
        own = r["own"]
        abstain, cite = decide(own)
        if not own.lists.answerable:
            unanswerable.append(abstain)
            continue
        n += 1
        false_abst += bool(abstain)
        if not abstain:
            cites.append(len(cite))
            cited_gold += bool(own.lists.gold[cite].any())
    out: dict[str, float] = {
        "gold_among_citations": cited_gold / max(n, 1),
        "citations_per_question": float(np.mean(cites)) if cites else 0.0,
        "false_abstention": false_abst / max(n, 1),
    }
    for key in ("same_topic", "other"):
        got = [decide(r[key])[0] for r in rows if key in r]
        if got:
            out[f"{key}_abstained"] = float(np.mean(got))
    if unanswerable:
        out["unanswerable_abstained"] = float(np.mean(unanswerable))
        out["unanswerable_n"] = len(unanswerable)
    return out


def first_stage(rows: Sequence[dict[str, Scored]], within: float) -> dict[str, float]:
    """The first stage alone: its ranking, its own abstainer and second-citation rule."""

    def decide(s: Scored) -> tuple[bool, list[int]]:
        order = _order(s.lists.first_stage)
        fs = s.lists.first_stage
        cite = [int(order[0])]
        if len(order) > 1 and fs[order[0]] - fs[order[1]] <= within:
            cite.append(int(order[1]))
        return s.lists.abstain_logit < 0, cite

    return {
        **ranking(rows, lambda s, k: s.lists.first_stage[:k], LISTS_K),
        **decisions(rows, decide),
    }


def combined(rows: Sequence[dict[str, Scored]], rule: AnswerRule, null: float) -> dict[str, float]:
    """The shipped answer rule: combined ranking, abstention, citations."""
    k = rule.k

    def decide(s: Scored) -> tuple[bool, list[int]]:
        margins = s.margins
        got = apply_rule(
            rule,
            null,
            s.ce[:k],
            s.lists.first_stage[:k],
            s.lists.abstain_logit,
            None if margins is None else (lambda i: float(margins[i])),
        )
        return got.abstain, list(got.cite)

    return {
        **ranking(
            rows,
            lambda s, kk: (
                rule.ce_weight * s.ce[:kk] + rule.first_stage_weight * s.lists.first_stage[:kk]
            ),
            k,
        ),
        **decisions(rows, decide),
    }


def dev_lists(
    embedder: SentenceEmbedder, cache: Path | None, ranker: RankerModel
) -> list[QuestionLists]:
    """The dev questions against the article; gold: a sentence holding an evidence string."""
    text = read_article(ARTICLE).text
    passage = prepare_passages([text], embedder, cache)[text]
    out = []
    for item in read_qa_file(DEV).items:
        ex = make_example(item, passage, embedder.embed_query_array(item.question))
        evidence = [fold(e) for e in item.evidence] if item.answerable else []
        gold = np.array(
            [any(e in fold(s.text) for e in evidence) for s in passage.prepared.sentences],
            dtype=bool,
        )
        ex = Example(ex.item, ex.passage, ex.question, ex.matrix, gold)
        own = candidate_list(ex, ranker, LISTS_K, detect_language(item.question), item.answerable)
        out.append(QuestionLists(item=item, own=own, same_topic=None, other=None))
    return out


def _cell(block: dict[str, float], key: str) -> str:
    return f"{block[key]:.3f}" if key in block else ""


def table(result: dict[str, Any]) -> str:
    """The ablation table (Markdown)."""
    head = (
        "| data | system | hit@1 | hit@3 | gold among citations | citations / q | "
        "false abst. | same-topic abst. | other abst. | unanswerable abst. |"
    )
    lines = [head, "|" + " --- |" * 10]
    for name, block in result["data"].items():
        for system in ("first stage", "cross-encoder alone", "combined (shipped)"):
            b = block[system]
            lines.append(
                f"| {name} (n={b['n']}) | {system} | {_cell(b, 'hit_at_1')} | "
                f"{_cell(b, 'hit_at_3')} | {_cell(b, 'gold_among_citations')} | "
                f"{_cell(b, 'citations_per_question')} | "
                f"{_cell(b, 'false_abstention')} | {_cell(b, 'same_topic_abstained')} | "
                f"{_cell(b, 'other_abstained')} | "
                f"{_cell(b, 'unanswerable_abstained')} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Measure, print the table and write it (and the JSON beside it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir", type=Path, default=REPO / "bot" / "data", help="reranker.json and its graph"
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "articlebot")
    parser.add_argument("--fp32", type=Path, help="an fp32 graph to compare with int8")
    parser.add_argument("--fp32-sample", type=int, default=100)
    parser.add_argument("--out", type=Path, help="write the Markdown table here (and .json)")
    parser.add_argument(
        "--norquad",
        type=Path,
        required=True,
        help="the folder holding NorQuAD's train.jsonl and validation.jsonl",
    )
    args = parser.parse_args()
    meta = json.loads((args.model_dir / "reranker.json").read_text(encoding="utf-8"))
    seed, null = int(meta["recipe"]["seed"]), float(meta["null_logit"])
    rule = AnswerRule.from_json(meta["rule"])
    ranker, embedder = load_model(), make_embedder("e5-small-q4")
    completed = Settings().data_dir / "reranker"
    scorer = load_scorer(args.model_dir, completed)
    cache = ScoreCache(scorer.score)
    # a rule that reads the span reader needs its margin on each candidate
    margins = ScoreCache(scorer.reader_margins) if rule.reads_span else None

    train_items = [
        i for i in read_qa_file(args.norquad / "train.jsonl").items if i.context is not None
    ]
    held = heldout_contexts(train_items, seed)
    held_lists = [
        q
        for q in build_lists(
            train_items, embedder, args.cache, ranker, LISTS_K, seed, detect_language
        )
        if q.item.context in held
    ]
    random.Random(seed).shuffle(held_lists)
    held_lists = held_lists[: int(meta["calibration_questions"])]
    validation = read_qa_file(args.norquad / "validation.jsonl").items
    val_lists = build_lists(
        validation, embedder, args.cache, ranker, LISTS_K, seed, detect_language
    )
    dev = dev_lists(embedder, args.cache, ranker)
    rows = {
        "held-out train": (held_lists, score_all(held_lists, cache, "held-out", margins)),
        "NorQuAD validation": (val_lists, score_all(val_lists, cache, "validation", margins)),
    }
    dev_rows = score_all(dev, cache, "dev", margins)
    for lang in ("nb", "en"):
        keep = [n for n, q in enumerate(dev) if (q.item.lang or "nb") == lang]
        rows[f"dev {lang}"] = ([dev[n] for n in keep], [dev_rows[n] for n in keep])
    rows["dev"] = (dev, dev_rows)

    result: dict[str, Any] = {
        "model": {
            k: meta[k]
            for k in (
                "steps",
                "recipe",
                "heldout_questions",
                "fine_tune_questions",
                "calibration_questions",
            )
        },
        "rule_k": rule.k,
        "data": {},
    }
    for name, (_, scored) in rows.items():
        result["data"][name] = {
            "first stage": first_stage(scored, ranker.second_citation_within),
            "cross-encoder alone": ranking(scored, lambda s, k: s.ce[:k], rule.k),
            "combined (shipped)": combined(scored, rule, null),
        }

    if args.fp32 is not None:
        fp32 = load_scorer(args.model_dir, completed, onnx_name=str(args.fp32.resolve()))
        cache32 = ScoreCache(fp32.score)
        sample = [QuestionLists(q.item, q.own, None, None) for q in val_lists[: args.fp32_sample]]
        rows32 = score_all(sample, cache32, "fp32")
        rows8 = rows["NorQuAD validation"][1][: args.fp32_sample]

        def mixed(s: Scored, k: int) -> np.ndarray:
            out: np.ndarray = (
                rule.ce_weight * s.ce[:k] + rule.first_stage_weight * s.lists.first_stage[:k]
            )
            return out

        result["fp32_vs_shipped"] = {
            "n": len(sample),
            "fp32": ranking(rows32, mixed, rule.k),
            "shipped": ranking(rows8, mixed, rule.k),
            "max_abs_score_diff": float(
                max(
                    np.max(np.abs(a["own"].ce - b["own"].ce))
                    for a, b in zip(rows32, rows8, strict=True)
                )
            ),
        }

    times = []
    for q in dev:
        c = q.own.top(rule.k)
        t0 = time.perf_counter()
        scorer.rerank(c.question, c.sentences, c.first_stage, c.abstain_logit)
        times.append((time.perf_counter() - t0) * 1000)
    result["rerank_ms"] = {"p50": statistics.median(times), "max": max(times), "n": len(times)}
    text = table(result)
    print(text)
    print(json.dumps({k: v for k, v in result.items() if k != "data"}, indent=1))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(
            json.dumps(result, indent=1) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
