"""Fitting the route step's weight (`articlebot train-route`): how much the answerability
probability counts beside the nearest cosine when a question is asked across articles.

Every passage of the file is indexed into one store, then each question is asked across all
of them: the candidates are the articles of its nearest sentences (`across_sentences`), each
ranked by its own retriever exactly as `bot.routing` does, and every weight of `WEIGHTS`
is scored from those rankings with the engine's number of candidate articles
(`across_articles`). The weight with the best hit@1 plus own-article rate is written to the
route file the query path reads (`bot/data/route.json`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.chain import chain_input
from bot.engine import Engine
from bot.eval.outcome import gold_ids
from bot.eval.qafile import QAItem
from bot.intent import retrieval_text
from bot.question import clean_question
from bot.routing import candidate_articles

WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)


@dataclass(frozen=True)
class Seen:
    """One candidate article of one question."""

    own: bool
    nearest: float
    answerable: float
    abstain: bool
    hit: bool  # its top sentence is the question's gold sentence


def collect(items: Sequence[QAItem], engine: Engine, articles: int) -> list[list[Seen]]:
    """Every question's candidates (at most `articles`), nearest first, from `engine`'s
    store after indexing every item's context into it."""
    from tqdm import tqdm

    contexts = list(dict.fromkeys(i.context for i in items if i.context is not None))
    ids = {c: r.article.id for c, r in zip(contexts, engine.index_texts(contexts), strict=True)}
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
        hits = engine.store.search(
            vector, engine.settings.across_sentences, embedder=engine.embedder_spec
        )
        seen = []
        for article, nearest in candidate_articles(hits, articles):
            r = engine.answerer(article).retriever.retrieve(text, inputs.language, vector=vector)
            seen.append(
                Seen(
                    own=article == own,
                    nearest=nearest,
                    answerable=r.answerable,
                    abstain=r.abstain,
                    hit=bool(r.ranked) and r.ranked[0].sentence.id in gold,
                )
            )
        out.append(seen)
    return out


def choose(candidates: Sequence[Seen], weight: float) -> Seen:
    """The route rule of `bot.routing.best_candidate`."""
    answering = [c for c in candidates if not c.abstain] or candidates
    return max(answering, key=lambda c: c.nearest + weight * c.answerable)


def figures(rows: Sequence[Sequence[Seen]], articles: int, weight: float) -> tuple[float, float]:
    """(hit@1, own-article rate) over all questions with `articles` candidates."""
    chosen = [choose(seen[:articles], weight) for seen in rows if seen]
    n = max(len(rows), 1)
    return sum(c.hit for c in chosen) / n, sum(c.own for c in chosen) / n


def best_weight(rows: Sequence[Sequence[Seen]], articles: int) -> float:
    """The weight of `WEIGHTS` with the best hit@1 plus own-article rate (the smaller weight
    on a tie)."""
    return max(WEIGHTS, key=lambda w: (sum(figures(rows, articles, w)), -w))


def write_route(
    items: Sequence[QAItem],
    provenance: dict[str, object],
    engine: Engine,
    out: Path,
    notice: Callable[[str], None],
) -> float:
    """Fit the weight on `items` (indexed into `engine`'s store) and write the route file
    (atomically) to `out`; returns the weight."""
    articles = engine.settings.across_articles
    rows = collect(items, engine, articles)
    weight = best_weight(rows, articles)
    table = {
        str(w): dict(zip(("hit_at_1", "own_article"), figures(rows, articles, w), strict=True))
        for w in WEIGHTS
    }
    data = {
        "answerable_weight": weight,
        "meta": {
            "source": "articlebot train-route",
            **provenance,
            "questions": len(rows),
            "across_articles": articles,
            "across_sentences": engine.settings.across_sentences,
            "by_weight": table,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    hit, own = figures(rows, articles, weight)
    notice(f"wrote {out}: answerable weight {weight} (hit@1 {hit:.3f}, own article {own:.3f})")
    return weight
