"""The scale bench's articles: NorQuAD passages (from the folder given with `--norquad`),
the bundled article and numbered copies, split and given vectors from the shared vector
cache (`index.vectorcache`) where it has them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.eval.bench.figures import bundled_questions
from core.errors import ConfigError
from core.files import QUESTIONS_LIMIT, read_text_bounded

Notice = Callable[[str], None]


def norquad_articles(folder: Path) -> list[tuple[str, list[str]]]:
    """NorQuAD passages as articles, with their questions: the distinct contexts of train,
    then validation (752 here), then the second half (by line) of each of them, so that a
    store of 1,000 or more distinct articles can be built from the data that ships."""
    by_context: dict[str, list[str]] = {}
    for path in (folder / "train.jsonl", folder / "validation.jsonl"):
        if not path.is_file():
            raise ConfigError(
                f"bench --scale: {path} is missing (--norquad names the folder "
                "holding NorQuAD's train.jsonl and validation.jsonl)"
            )
        for line in read_text_bounded(path, QUESTIONS_LIMIT, ConfigError).splitlines():
            if line.strip():
                item = json.loads(line)
                by_context.setdefault(str(item["context"]), []).append(str(item["question"]))
    whole = list(by_context.items())
    halves: dict[str, list[str]] = {}
    for text, questions in whole:
        lines = text.split("\n")
        half = "\n".join(lines[len(lines) // 2 :])
        if len(lines) >= 4 and half.strip() and half not in by_context:
            halves.setdefault(half, questions)
    return whole + list(halves.items())


def scale_articles(n: int, norquad: Path) -> list[tuple[str, list[str]]]:
    """`n` distinct articles with questions: the NorQuAD passages, the bundled article, then
    copies of them with a closing line `Kopi R.` (round R = 2, 3, ...) until there are `n`.
    A copy repeats known sentences, so its vectors come from the cache but for that line."""
    from bot.engine import bundled_article_path

    bundled = (bundled_article_path().read_text(encoding="utf-8"), bundled_questions())
    base = [*norquad_articles(norquad), bundled]
    out = base[:n]
    copy = 2
    while len(out) < n:
        out += [
            (f"{text.rstrip()}\n\nKopi {copy}.", questions)
            for text, questions in base[: n - len(out)]
        ]
        copy += 1
    return out


@dataclass(frozen=True)
class ScaleArticle:
    """One article of the scale bench, split, with its vectors and questions."""

    article: Any  # core.records.Article
    chunks: tuple[Any, ...]  # core.records.Chunk
    vectors: Any  # np.ndarray, one row per chunk
    questions: tuple[str, ...]


def prepare_scale_articles(
    texts: Sequence[tuple[str, list[str]]], embedder: Any, cache: Path | None, notice: Notice
) -> list[ScaleArticle]:
    """Split every article and give it vectors: from the cache by content hash where it has
    them, then sentence by sentence from any article already known, and only then from the
    model (about 40 sentences a second on 2 cores; the bottleneck of a first run)."""
    import numpy as np
    from tqdm import tqdm

    from index.article import article_from_text, inline_id
    from index.chunk import make_chunks
    from index.sentence import split_article
    from index.vectorcache import passage_key

    split = []
    known: dict[str, Any] = {}
    cached: list[bool] = []
    for text, questions in tqdm(
        texts, desc="split, cached vectors", unit="article", file=sys.stderr, dynamic_ncols=True
    ):
        article = article_from_text(text, inline_id(text))
        chunks = tuple(make_chunks(split_article(article)))
        path = cache / f"{passage_key(embedder.spec, article.text)}.npy" if cache else None
        hit = path is not None and path.exists()
        if hit and path is not None:
            vectors = np.load(path)
            if len(vectors) == len(chunks):
                known.update(zip((c.embed_text for c in chunks), vectors, strict=True))
            else:
                hit = False
        split.append((article, chunks, tuple(questions)))
        cached.append(hit)
    missing = list(
        dict.fromkeys(
            c.embed_text for _, chunks, _ in split for c in chunks if c.embed_text not in known
        )
    )
    notice(f"bench --scale: {len(known)} sentence vectors from the cache, {len(missing)} to embed")
    step = 64
    for lo in tqdm(
        range(0, len(missing), step),
        desc="embedding",
        unit="batch",
        file=sys.stderr,
        dynamic_ncols=True,
    ):
        part = missing[lo : lo + step]
        known.update(zip(part, embedder.embed_documents_array(part), strict=True))
    out = []
    for (article, chunks, asked), hit in zip(split, cached, strict=True):
        vectors = np.stack([known[c.embed_text] for c in chunks]).astype(np.float32)
        if cache is not None and not hit and "\n\nKopi " not in article.text:
            cache.mkdir(parents=True, exist_ok=True)  # copies are cheap to rebuild: not kept
            path = cache / f"{passage_key(embedder.spec, article.text)}.npy"
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        out.append(ScaleArticle(article=article, chunks=chunks, vectors=vectors, questions=asked))
    return out
