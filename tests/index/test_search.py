"""`Store.search`: cosine similarity across articles, live generations only (real Chroma)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ManifestMismatchError, StoreError
from index.store import Store
from tests.conftest import REPO
from tests.index.helpers import EMBEDDER, write


def test_search_finds_the_nearest_sentences_across_articles(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    (_, va), (_, vb), (_, vc) = (
        write(store, a, seed) for a, seed in (("a", 1), ("b", 2), ("c", 3))
    )
    everything = np.concatenate([va, vb, vc])
    ids = [f"{a}:{n}" for a, v in (("a", va), ("b", vb), ("c", vc)) for n in range(1, len(v) + 1)]
    query = vb[2] + 0.05 * va[0]
    query /= np.linalg.norm(query)
    hits = store.search(query, k=4)
    expected = np.argsort(-(everything @ query))[:4]
    assert [s.id for s, _ in hits] == [ids[i] for i in expected]
    assert hits[0][0].id == "b:3"
    for (sentence, score), i in zip(hits, expected, strict=True):
        assert score == pytest.approx(float(everything[i] @ query), abs=1e-4)
        assert (
            sentence.text == store.article(sentence.article_id).text[sentence.start : sentence.end]
        )
    # restricted to some articles
    only_c = store.search(query, k=3, article_ids=["c"])
    assert [s.article_id for s, _ in only_c] == ["c", "c", "c"]
    assert {s.article_id for s, _ in store.search(query, k=10, article_ids=["a", "c"])} == {
        "a",
        "c",
    }
    assert store.search(query, k=3, article_ids=[]) == []
    assert store.search(query, k=3, article_ids=["nope"]) == []
    # k beyond the store: every live sentence once
    assert sorted(s.id for s, _ in store.search(query, k=1000)) == sorted(ids)


def test_search_never_returns_a_replaced_generation(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    write(store, "a", 1)
    old, old_vectors = write(store, "b", 2)
    new, new_vectors = write(store, "b", 7)  # a rebuild of b with other vectors
    assert new.generation != old.generation
    _, score = store.search(old_vectors[0], k=1, article_ids=["b"])[0]
    assert score < 0.99  # the old vector is gone
    assert store.search(new_vectors[1], k=1)[0][1] == pytest.approx(1.0, abs=1e-4)
    assert len(store.search(old_vectors[0], k=100)) == 12  # 6 of a, 6 of the new b


def test_search_needs_the_embedder_named_when_there_are_several(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    _, va = write(store, "a", 1)
    write(store, "a", 2, embedder="test:other")
    with pytest.raises(StoreError, match="has 2 embedders"):
        store.search(va[0], k=1)
    assert store.search(va[0], k=1, embedder=EMBEDDER)[0][1] == pytest.approx(1.0, abs=1e-4)
    assert store.search(va[0], k=1, embedder="test:other")[0][1] < 0.99


WRITER = """
import sys
from pathlib import Path
from tests.index.helpers import write
from index.store import Store
write(Store(Path(sys.argv[1])), "b", 9)
"""


def test_a_long_lived_reader_sees_what_another_process_wrote(tmp_path: Path) -> None:
    """An embedded client never reloads a collection's in-memory vector index by itself:
    without the writers' epoch stamp this reader's queries miss or fail after the rebuild."""
    store = Store(tmp_path / "s")
    write(store, "a", 1)
    write(store, "b", 2)
    reader = Store(tmp_path / "s")
    assert len(reader.search(np.ones(16, dtype=np.float32) / 4, k=100)) == 12  # loaded now
    subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path / "s")], cwd=REPO, check=True, timeout=120
    )
    manifest = reader.manifest("b", EMBEDDER)
    assert manifest is not None
    _, vectors = reader.sentences(manifest)
    hit, score = reader.search(vectors[3], k=1)[0]
    assert hit.id == "b:4" and score == pytest.approx(1.0, abs=1e-4)
    assert len(reader.search(vectors[3], k=100)) == 12


def test_rows_gone_under_a_pointer_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    manifest, _ = write(store, "a", 1)
    handle = store.client.get_collection(manifest.chroma_collection)
    handle.delete(where={"generation": manifest.generation})  # rows gone under the pointer
    with pytest.raises(ManifestMismatchError, match="holds 0 sentences"):
        store.sentences(manifest)
