"""Speed and memory of answering with the first stage plus the cross-encoder reranker.

    python scripts/rerank_latency.py [--model-dir bot/data] [--repeat 3]

One process loads the embedder, the first-stage ranker, the article and the reranker, then
answers each dev question `repeat` times: the first stage (query embedding, features, ranker
and its abstainer) and the reranker (tokenising, word rows, the ONNX graph, the answer rule)
timed apart. Prints the load times, warm medians and the process's peak RSS as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "bot" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="embedding cache for the article's vectors")
    args = parser.parse_args()
    from bot.crossencoder import load_scorer
    from bot.features import abstain_row, question_info
    from bot.language import detect_language
    from bot.qafile import read_qa_file
    from bot.ranker import load_model
    from bot.training import prepare_passages
    from index.article import read_article
    from index.embedder import make_embedder

    t0 = time.perf_counter()
    embedder = make_embedder("e5-small-q4")
    ranker = load_model()
    text = read_article(REPO / "index" / "data" / "article.txt").text
    prepared = prepare_passages([text], embedder, args.cache)[text].prepared
    first_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    scorer = load_scorer(args.model_dir, threads=args.threads)
    rerank_load = time.perf_counter() - t0
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert scorer.rule is not None
    k = scorer.rule.k
    questions = [i.question for i in read_qa_file(REPO / "data" / "article_dev_qa.jsonl").items]
    first_ms: list[float] = []
    rerank_ms: list[float] = []
    cold_ms = None
    for rep in range(args.repeat):
        for q in questions:
            t0 = time.perf_counter()
            info = question_info(q)
            matrix = prepared.features(info, embedder.embed_query_array(q))
            variant = ranker.variant(detect_language(q))
            scores = variant.ranker.decision(matrix)
            row = abstain_row(info, matrix, scores, prepared.vocabulary)
            p = float(variant.abstainer.probability(row[None, :])[0])
            order = np.argsort(-scores, kind="stable")[:k]
            logit = float(np.log(max(p, 1e-9) / max(1 - p, 1e-9))
                          - np.log(variant.abstain_below / (1 - variant.abstain_below)))
            t1 = time.perf_counter()
            scorer.rerank(q, [prepared.sentences[i].text for i in order], scores[order], logit)
            t2 = time.perf_counter()
            if cold_ms is None:
                cold_ms = (t2 - t1) * 1000
            elif rep > 0 or len(first_ms) > 0:
                first_ms.append((t1 - t0) * 1000)
                rerank_ms.append((t2 - t1) * 1000)
    total = [a + b for a, b in zip(first_ms, rerank_ms, strict=True)]
    print(json.dumps({
        "k": k, "questions": len(questions), "repeat": args.repeat,
        "first_stage_load_s": first_load, "reranker_load_s": rerank_load,
        "reranker_first_call_ms": cold_ms,
        "first_stage_p50_ms": statistics.median(first_ms),
        "reranker_p50_ms": statistics.median(rerank_ms),
        "reranker_p95_ms": float(np.percentile(rerank_ms, 95)),
        "total_p50_ms": statistics.median(total),
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
