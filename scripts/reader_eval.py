"""Direct answers: the span reader beside the first stage's pattern model, on NorQuAD
validation and on the bundled article's factual questions of the readers' development set.

    python scripts/reader_eval.py --norquad DIR [--cache DIR] [--devset data/devset.jsonl]

NorQuAD validation: each question is ranked against its own passage by the shipped ranker,
its best three sentences are rescored by the shipped cross-encoder and its answer rule, and
both short-answer models read the sentence the answer cites first. Exact match and token F1
(SQuAD's normalisation, Norwegian and English articles dropped) are over every question with
a span taken regardless of confidence; a shown answer is right when it equals the gold answer
or holds it and is at most twice as long. Coverage is shown among answered questions; as in
the product, "why" and "how" questions show none. By
question type: who, when, where, how many, which, why, and the rest. The head's own time a
question (reading the cited pair's rows and the confidence) is timed in the same run.

The development set goes through `articlebot eval` (the product as shipped) and counts the
right short answers of the bundled article's factual questions (who, when, where, which, how
many: by the question's first words).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.metrics import exact_match, short_right, token_f1  # noqa: E402
from bot.eval.qafile import read_qa_file  # noqa: E402
from bot.intent import question_intent  # noqa: E402
from bot.language import detect_language  # noqa: E402
from bot.ranking.crossencoder import CrossEncoderScorer, load_scorer  # noqa: E402
from bot.ranking.features import question_info  # noqa: E402
from bot.ranking.model import load_model, logit  # noqa: E402
from bot.short_answer import candidate, short_answer  # noqa: E402
from bot.training.reranker.candidates import build_lists  # noqa: E402
from bot.ui.cli import main as cli_main  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

TYPES = (
    ("how many", r"^(?:hvor|kor|hur)\s+(?:mange|mye|mykje|många|mycket|meget)|^how (?:many|much)"),
    ("when", r"^(?:når|kva tid|hvornår|när|hvilket år|hvilken dato|when|what year)"),
    ("where", r"^(?:hvor|kor|var|where)\b"),
    ("who", r"^(?:hvem|kven|vem|who)\b"),
    ("why", r"^(?:hvorfor|kvifor|varför|why)\b"),
    ("which", r"^(?:hvilken|hvilket|hvilke|kva for|vilken|vilket|vilka|which|hva|kva|vad|what)\b"),
)
FACTUAL = ("how many", "when", "where", "who", "which")


def question_type(question: str) -> str:
    """The question's type by its first words ("other" when none fits)."""
    q = question.strip().lower()
    return next((name for name, pattern in TYPES if re.search(pattern, q)), "other")


def norquad_rows(norquad: Path, cache: Path, scorer: CrossEncoderScorer) -> list[dict[str, object]]:
    """Each answerable validation question read by both models."""
    items = [i for i in read_qa_file(norquad / "validation.jsonl").items if i.answerable]
    if scorer.reader is None:
        raise SystemExit("the shipped reranker has no span reader")
    reader = scorer.reader
    ranker = load_model()
    lists = build_lists(items, make_embedder("e5-small-q4"), cache, ranker, 3, 0, detect_language)
    rows = []
    for q in lists:
        own = q.own
        info = question_info(own.question)
        verdict = scorer.rerank(own.question, own.sentences, own.first_stage, own.abstain_logit)
        reading = verdict.readings[verdict.order[0]]
        t0 = time.perf_counter()
        span = reader.span(reading)
        confidence = reader.confidence(span, info, verdict.answerable) if span else 0.0
        reader_ms = (time.perf_counter() - t0) * 1000
        text = reading.sentence[span.start : span.end] if span else ""
        # the pattern model as the first stage gives it: its top two scores and its own
        # answerability (the abstainer's probability, recovered from the list's log-odds)
        variant = ranker.variant(detect_language(own.question))
        answerable = 1 / (1 + np.exp(-(own.abstain_logit + logit(variant.abstain_below))))
        top2 = sorted(own.first_stage.tolist(), reverse=True)[:2]
        found = candidate(info, reading.sentence, own.question)
        pattern = short_answer(info, reading.sentence, own.question, top2, float(answerable))
        golds = [s.text for s in q.item.spans]
        rows.append(
            {
                "type": question_type(own.question),
                "language": detect_language(own.question),
                "answered": not verdict.abstain,
                # the product shows none where the answer is a whole sentence (why, how)
                "gated": not question_intent(own.question).wants_short_answer,
                "gold_sentence": bool(own.gold[verdict.order[0]]),
                "em": exact_match(text, golds),
                "f1": token_f1(text, golds),
                "confidence": confidence,
                "reader_ms": reader_ms,
                "right": short_right(text, golds),
                "pattern": pattern.text if pattern else None,
                "pattern_right": short_right(pattern.text, golds) if pattern else 0.0,
                "pattern_em": exact_match(found.text, golds) if found else 0.0,
                "pattern_f1": token_f1(found.text, golds) if found else 0.0,
            }
        )
    return rows


def at_precision(rows: Sequence[dict[str, object]], target: float) -> float:
    """The largest share of answered questions that can be shown, most confident first,
    with the shown ones at least `target` right."""
    answered = sorted(
        (r for r in rows if r["answered"]),
        key=lambda r: -float(r["confidence"]),  # type: ignore[arg-type]
    )
    right = np.cumsum([float(r["right"]) for r in answered])  # type: ignore[arg-type]
    ok = [n for n in range(1, len(answered) + 1) if right[n - 1] / n >= target]
    return max(ok, default=0) / max(1, len(answered))


def table(rows: Sequence[dict[str, object]], show_above: float) -> str:
    """The Markdown table by question type."""
    lines = [
        "| questions | n | reader EM (all) | reader F1 (all) | reader shown | reader precision "
        "| pattern EM (all) | pattern F1 (all) | pattern shown | pattern precision |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups = [("all", list(rows))] + [
        (name, [r for r in rows if r["type"] == name]) for name, _ in (*TYPES, ("other", ""))
    ]
    for name, group in groups:
        if not group:
            continue
        answered = [r for r in group if r["answered"]]
        shown = [
            r
            for r in answered
            if float(r["confidence"]) >= show_above and not r["gated"]  # type: ignore[arg-type]
        ]
        pattern = [r for r in answered if r["pattern"] is not None and not r["gated"]]
        lines.append(
            f"| {name} | {len(group)} | {np.mean([r['em'] for r in group]):.3f} "
            f"| {np.mean([r['f1'] for r in group]):.3f} "
            f"| {len(shown) / max(1, len(answered)):.3f} ({len(shown)}) "
            f"| {_precision(shown, 'right')} "
            f"| {np.mean([r['pattern_em'] for r in group]):.3f} "
            f"| {np.mean([r['pattern_f1'] for r in group]):.3f} "
            f"| {len(pattern) / max(1, len(answered)):.3f} ({len(pattern)}) "
            f"| {_precision(pattern, 'pattern_right')} |"
        )
    return "\n".join(lines)


def _precision(rows: Sequence[dict[str, object]], key: str) -> str:
    if not rows:
        return "n/a"
    return f"{np.mean([float(r[key]) for r in rows]):.3f}"  # type: ignore[arg-type]


def devset_factual(devset: Path, store: Path, reranker_dir: Path | None) -> str:
    """Right short answers among the bundled article's factual questions (the product, with
    the cross-encoder of `reranker_dir`, default the shipped one)."""
    items = {i.id: i for i in read_qa_file(devset).items}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval"
        args = ["eval", str(devset), "--out", str(out), "-q", "--store", str(store)]
        if reranker_dir is not None:
            args += ["--reranker-dir", str(reranker_dir)]
        code = cli_main(args)
        if code not in (0, 1):
            raise SystemExit(f"eval failed on {devset}")
        records = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    lines = []
    right = total = 0
    for r in records:
        item = items.get(str(r["id"]))
        if item is None or not item.answerable or not item.answers:
            continue
        if item.article and not item.article.endswith("index/data/article.txt"):
            continue
        if question_type(item.question) not in FACTUAL:
            continue
        short = r.get("short_answer")
        ok = bool(short) and short_right(short["text"], item.answers) == 1.0
        total += 1
        right += ok
        shown = short["text"] if short else "-"
        lines.append(
            f"- {item.question} -> {shown} ({'right' if ok else 'gold: ' + item.answers[0]})"
        )
    head = f"Bundled article, factual questions: {right} of {total} with a right short answer"
    return "\n".join([head, *lines])


def main() -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norquad", type=Path, required=True, help="NorQuAD's folder")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "articlebot", help="cache folder"
    )
    parser.add_argument("--devset", type=Path, default=REPO / "data" / "devset.jsonl")
    parser.add_argument(
        "--reranker-dir",
        type=Path,
        default=None,
        help="a train-reranker output folder to measure (default: the shipped bot/data)",
    )
    args = parser.parse_args()
    scorer = load_scorer(args.reranker_dir, args.cache / "reranker")
    rows = norquad_rows(args.norquad, args.cache, scorer)
    assert scorer.reader is not None
    show_above = scorer.reader.show_above
    print(f"NorQuAD validation, {len(rows)} answerable questions (threshold {show_above:.3f})\n")
    print(table(rows, show_above))
    answered = [r for r in rows if r["answered"]]
    print(
        f"\nCited sentence holds the answer: {np.mean([r['gold_sentence'] for r in rows]):.3f}; "
        f"coverage at 90% precision {at_precision(rows, 0.9):.3f}, at 95% "
        f"{at_precision(rows, 0.95):.3f} (of {len(answered)} answered); the head's time a "
        f"question, median {np.median([float(r['reader_ms']) for r in rows]):.2f} ms "  # type: ignore[arg-type]
        f"(p95 {np.percentile([float(r['reader_ms']) for r in rows], 95):.2f} ms)\n"  # type: ignore[arg-type]
    )
    with tempfile.TemporaryDirectory() as store:
        print(devset_factual(args.devset, Path(store), args.reranker_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
