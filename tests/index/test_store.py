from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.settings import Settings
from core.errors import ArticleNotFoundError, ManifestMismatchError, StoreBusyError
from index.store import Store
from tests.conftest import ARTICLE


def test_index_is_skipped_when_unchanged_and_never_duplicated(tmp_path: Path) -> None:
    engine = Engine(Settings(store=tmp_path / "s"))
    first = engine.index_files([ARTICLE])[0]
    assert not first.skipped and first.manifest.sentence_count == 22
    again = engine.index_files([ARTICLE])[0]
    assert again.skipped and again.manifest.collection == first.manifest.collection
    rebuilt = engine.index_files([ARTICLE], rebuild=True)[0]
    assert not rebuilt.skipped and rebuilt.manifest.collection != first.manifest.collection
    # One collection per embedder: the rebuild is a new generation in the same collection,
    # and the previous generation's rows are gone.
    assert rebuilt.manifest.chroma_collection == first.manifest.chroma_collection
    rows = engine.store.client.get_collection(rebuilt.manifest.chroma_collection).get(
        include=["metadatas"]
    )["metadatas"]
    assert {m["generation"] for m in rows} == {rebuilt.manifest.generation}
    assert len(rows) == 22
    sentences, vectors = engine.store.sentences(rebuilt.manifest)
    assert len(sentences) == 22 and vectors.shape == (22, 384)
    text = engine.store.article("article").text
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_same_stem_gets_a_unique_id_and_changed_file_keeps_its_id(tmp_path: Path) -> None:
    engine = Engine(Settings(store=tmp_path / "s"))
    a = tmp_path / "one" / "putin kim.txt"
    b = tmp_path / "two" / "putin kim.txt"
    for p, text in ((a, "Tittel\nFørste setning her."), (b, "Annen tittel\nEn setning.")):
        p.parent.mkdir()
        p.write_text(text)
    ids = [r.article.id for r in engine.index_files([a, b])]
    assert ids == ["putin-kim", "putin-kim-2"]
    a.write_text("Tittel\nFørste setning her. Og en til.")
    again = engine.index_files([a])[0]
    assert again.article.id == "putin-kim" and not again.skipped
    assert [x.id for x in engine.store.articles()] == ["putin-kim", "putin-kim-2"]


def test_remove(tmp_path: Path) -> None:
    engine = Engine(Settings(store=tmp_path / "s"))
    engine.index_files([ARTICLE])
    with engine.store.writer():
        engine.store.remove("article")
    assert engine.store.articles() == []
    with pytest.raises(ArticleNotFoundError):
        engine.store.article("article")


def test_manifest_mismatch_names_rebuild(tmp_path: Path) -> None:
    engine = Engine(Settings(store=tmp_path / "s"))
    manifest = engine.index_files([ARTICLE])[0].manifest
    with pytest.raises(ManifestMismatchError, match="articlebot index --rebuild"):
        engine.store.check(manifest, dimension=768, chunker_version=manifest.chunker_version)


def test_second_writer_fails_fast(tmp_path: Path) -> None:
    one = Store(tmp_path / "s", lock_timeout=0.3)
    two = Store(tmp_path / "s", lock_timeout=0.3)
    with (
        one.writer(),
        pytest.raises(StoreBusyError, match="another articlebot process"),
        two.writer(),
    ):
        pass
