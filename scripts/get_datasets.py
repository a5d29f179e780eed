"""Download the public datasets articlebot is trained and measured on (not in the repo).

    python scripts/get_datasets.py --out DIR      # or: make data DATASETS=DIR

- NorQuAD (github.com/ltgoslo/NorQuAD, CC0-1.0): the news and Wikipedia training and
  validation splits, written as DIR/norquad/train.jsonl and validation.jsonl, one question a
  line: `{"id","context","question","answers":[{"text","answer_start"}],"source"}` (news
  first, then wiki, in the upstream order; `id` is `<source>-<question id>-<hash>`).
- XQuAD (github.com/google-deepmind/xquad, CC BY-SA 4.0): DIR/xquad/xquad.{en,de,es}.json as
  published (SQuAD v1.1 JSON).

Both at a fixed commit, so every download is the same data. Only the standard library is
used; nothing here runs in the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from pathlib import Path

NORQUAD = (
    "https://raw.githubusercontent.com/ltgoslo/NorQuAD/"
    "701f7db6a51f0264a282ce1ff8e59580251b391e/data/evaluation"
)
XQUAD = (
    "https://raw.githubusercontent.com/google-deepmind/xquad/"
    "7d30520c717524000f0d9d2f9c10a069acd9d285"
)
SPLITS = {
    "train": "training_dataset_flattened.json",
    "validation": "validation_dataset_flattened.json",
}
LICENCES = {
    "norquad": "NorQuAD (Ivanova, Andreassen, Jentoft, Wold, Øvrelid, NODALIDA 2023),\n"
    "github.com/ltgoslo/NorQuAD, released under CC0-1.0\n"
    "(https://creativecommons.org/publicdomain/zero/1.0/). Passages come from\n"
    "Norwegian Wikipedia and the Norwegian News Corpus; credit those sources if\n"
    "you republish passage text.\n",
    "xquad": "XQuAD (Artetxe, Ruder, Yogatama, ACL 2020), github.com/google-deepmind/xquad,\n"
    "under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/).\n",
}


def fetch(url: str) -> bytes:
    """The body of `url` (one line on stderr first)."""
    print(f"downloading {url}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=120) as response:
        data: bytes = response.read()
    return data


def norquad_rows(data: dict[str, object], source: str) -> list[dict[str, object]]:
    """SQuAD-style JSON -> one row a question, with the passage as its context."""
    rows: list[dict[str, object]] = []
    for article in data["data"]:  # type: ignore[attr-defined]
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                digest = hashlib.sha1((qa["question"] + "\x1f" + context).encode()).hexdigest()
                rows.append(
                    {
                        "id": f"{source}-{qa['id']}-{digest[:8]}",
                        "context": context,
                        "question": qa["question"],
                        "answers": [
                            {"text": a["text"], "answer_start": a["answer_start"]}
                            for a in qa["answers"]
                        ],
                        "source": source,
                    }
                )
    return rows


def write(path: Path, data: bytes) -> None:
    """Write atomically (a download cut short leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main() -> int:
    """Download and write both datasets under --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the datasets folder")
    out = parser.parse_args().out
    for split, name in SPLITS.items():
        rows = [
            row
            for source in ("news", "wiki")
            for row in norquad_rows(json.loads(fetch(f"{NORQUAD}/{source}/{name}")), source)
        ]
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        write(out / "norquad" / f"{split}.jsonl", lines.encode("utf-8"))
        print(f"{out / 'norquad' / f'{split}.jsonl'}: {len(rows)} questions", file=sys.stderr)
    for lang in ("en", "de", "es"):
        write(out / "xquad" / f"xquad.{lang}.json", fetch(f"{XQUAD}/xquad.{lang}.json"))
    for name, text in LICENCES.items():
        write(out / name / "SOURCE.txt", text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
