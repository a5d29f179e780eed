"""A store of the previous layout (one `ab-...` collection per article and embedder, and the
`articlebot-registry` collection) is refused by readers with the advice to rebuild, and
`articlebot index --rebuild` migrates it, keeping every article it held."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from index.layout import articles_name, sentences_name
from tests.conftest import REPO, run_cli

GOLDEN = "Hvem er Sergej Radtsjenko?"

# Writes, with plain chromadb calls, what the previous version of the store wrote: the
# bundled article's index (vectors read from a current store) under two article ids.
OLD_LAYOUT = """
import sys, uuid, chromadb
from pathlib import Path
from chromadb.config import Settings
from index.store import Store
new = Store(Path(sys.argv[1]))
m = new.manifest("article", "e5-small-q4")
sentences, vectors = new.sentences(m)
article = new.article("article")
client = chromadb.PersistentClient(path=sys.argv[2],
                                   settings=Settings(anonymized_telemetry=False))
registry = client.get_or_create_collection("articlebot-registry", embedding_function=None)
registry.upsert(ids=[f"text::{article.sha256}"], documents=[article.text],
                metadatas=[{"kind": "text", "sha256": article.sha256}], embeddings=[[0.0]])
for article_id in ("article", "article-copy"):
    name = f"ab-{uuid.uuid4().hex[:12]}-{uuid.uuid4().hex[:8]}"
    c = client.create_collection(name, embedding_function=None,
                                 configuration={"hnsw": {"space": "cosine"}})
    c.add(ids=[f"{article_id}:{s.n}" for s in sentences], embeddings=vectors,
          documents=[s.text for s in sentences],
          metadatas=[{"n": s.n, "kind": s.kind, "start": s.start, "end": s.end,
                      "article_id": article_id} for s in sentences])
    registry.upsert(ids=[f"article::{article_id}"], documents=[article.title],
                    metadatas=[{"kind": "article", "article_id": article_id,
                                "title": article.title, "sha256": article.sha256,
                                "source": article.source + ("" if article_id == "article"
                                                            else ".copy")}],
                    embeddings=[[0.0]])
    registry.upsert(ids=[f"index::{article_id}::e5-small-q4"], documents=[name],
                    metadatas=[{"kind": "index", "article_id": article_id,
                                "embedder": "e5-small-q4", "dimension": m.dimension,
                                "chunker_version": m.chunker_version,
                                "article_sha256": article.sha256,
                                "sentence_count": len(sentences), "collection": name,
                                "chromadb_version": m.chromadb_version}],
                    embeddings=[[0.0]])
"""

NAMES = """
import json, sys, chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1],
                                   settings=Settings(anonymized_telemetry=False))
print(json.dumps(sorted(c.name for c in client.list_collections())))
"""


def _old_store(built: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    old = tmp_path / "old"
    subprocess.run(
        [sys.executable, "-c", OLD_LAYOUT, str(built), str(old)],
        env=env,
        cwd=REPO,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return old


def _names(store: Path, env: dict[str, str]) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-c", NAMES, str(store)],
        env=env,
        cwd=REPO,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    names: list[str] = json.loads(r.stdout)
    return names


def _ask(store: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    r = run_cli(["ask", GOLDEN, "--json", "--store", str(store), *extra], env, timeout=120)
    assert r.returncode == 0, r.stderr
    record: dict[str, Any] = json.loads(r.stdout)
    record.pop("timings_ms")
    return record


def test_an_old_layout_store_is_refused_with_the_rebuild_advice(
    built: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    old = _old_store(built, tmp_path, cli_env)
    assert "articlebot-registry" in _names(old, cli_env)
    for cmd in (["ask", GOLDEN], ["articles"]):
        r = run_cli([*cmd, "--store", str(old)], cli_env, timeout=120)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "old one-collection-per-article layout" in r.stderr
        assert "run `articlebot index --rebuild`" in r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "articlebot-registry" in _names(old, cli_env)  # readers never change it


def test_index_rebuild_migrates_an_old_layout_store_keeping_every_article(
    built: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    golden = _ask(built, cli_env)
    old = _old_store(built, tmp_path, cli_env)
    r = run_cli(["index", "--rebuild", "-q", "--store", str(old)], cli_env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _names(old, cli_env) == sorted(
        [articles_name("e5-small-q4"), sentences_name("e5-small-q4")]
    )
    r = run_cli(["articles", "--store", str(old)], cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["article", "22", "e5-small-q4"],
        ["article-copy", "22", "e5-small-q4"],
    ]
    assert _ask(old, cli_env) == golden
    copy = _ask(old, cli_env, "--article", "article-copy")  # copied, never re-embedded
    assert [
        {**c, "sentence_id": c["sentence_id"].replace("article-copy:", "article:")}
        for c in copy["citations"]
    ] == golden["citations"]
    with sqlite3.connect(f"file:{old / 'chroma.sqlite3'}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
