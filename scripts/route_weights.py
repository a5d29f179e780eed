"""Questions across articles: how the route step's choices (candidate articles, the weight of
answerability beside the nearest cosine) decide hit@1 and how often the own article answers.

    python scripts/route_weights.py [--file data/norquad/train.jsonl] [--store DIR]

Every passage of the file is indexed into one store (a temporary one unless --store is given;
an existing store is reused, unchanged passages are skipped), then each question is asked
across all of them: the candidates are the articles of its 40 nearest sentences, each ranked
by its own retriever, exactly as `bot.collection` does, and every (articles, weight) pair is
scored from those rankings. Choose on train; `articlebot eval FILE --article all` then
measures the shipped choice on validation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.answer import chain_input  # noqa: E402
from bot.collection import candidate_articles  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.eval.outcome import gold_ids  # noqa: E402
from bot.eval.qafile import read_qa_file  # noqa: E402
from bot.intent import retrieval_text  # noqa: E402
from bot.question import clean_question  # noqa: E402
from bot.settings import Settings  # noqa: E402

ARTICLES = (1, 2, 3, 4, 6, 8)
WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)


@dataclass(frozen=True)
class Seen:
    """One candidate article of one question."""

    own: bool
    nearest: float
    answerable: float
    abstain: bool
    hit: bool  # its top sentence is the question's gold sentence


def collect(path: Path, store: Path) -> list[list[Seen]]:
    """Every question's candidates (at most max(ARTICLES)), nearest first."""
    from tqdm import tqdm

    items = read_qa_file(path).items
    engine = Engine(Settings(store=store))
    contexts = list(dict.fromkeys(i.context for i in items if i.context is not None))
    ids = {c: r.article.id for c, r in zip(contexts, engine.index_texts(contexts),
                                           strict=True)}
    embedder = engine.embedder()
    out = []
    for item in tqdm(items, desc="questions", unit="q", file=sys.stderr):
        if item.context is None:
            continue
        own = ids[item.context]
        gold = gold_ids(item, engine.sentences(own))
        inputs = chain_input(clean_question(item.question, 2000))
        text = retrieval_text(inputs.query, inputs.intent)
        vector = embedder.embed_query_array(text)
        hits = engine.store.search(vector, 40, embedder=engine.embedder_spec)
        seen = []
        for article, nearest in candidate_articles(hits, max(ARTICLES)):
            r = engine.answerer(article).retriever.retrieve(text, inputs.language,
                                                            vector=vector)
            seen.append(Seen(own=article == own, nearest=nearest, answerable=r.answerable,
                             abstain=r.abstain,
                             hit=bool(r.ranked) and r.ranked[0].sentence.id in gold))
        out.append(seen)
    return out


def choose(candidates: list[Seen], weight: float) -> Seen:
    """The route rule of `bot.collection.best_candidate`."""
    answering = [c for c in candidates if not c.abstain] or candidates
    return max(answering, key=lambda c: c.nearest + weight * c.answerable)


def main() -> int:
    """Print hit@1 / own-article rate for every (articles, weight)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", default=str(REPO / "data" / "norquad" / "train.jsonl"))
    parser.add_argument("--store", help="store to index into (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = collect(Path(args.file), Path(args.store) if args.store else Path(tmp) / "s")
    print(f"{len(rows)} questions of {args.file}; cells: hit@1 / own article answers")
    print("articles " + " ".join(f"{f'w={w}':>13}" for w in WEIGHTS))
    for m in ARTICLES:
        cells = []
        for w in WEIGHTS:
            chosen = [choose(seen[:m], w) for seen in rows if seen]
            hit = sum(c.hit for c in chosen) / len(rows)
            own = sum(c.own for c in chosen) / len(rows)
            cells.append(f"{hit:.3f} / {own:.3f}")
        print(f"{m:>8} " + " ".join(f"{c:>13}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
