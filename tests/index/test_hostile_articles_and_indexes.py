"""Articles and indexes that must never give wrong answers
(docs/reliability-plan.md rows 15, 16, 22,
23 and 28): hostile article bytes, an embedder or Chroma version that changed under an
existing index, and any Q&A file thrown at the eval parser.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from bot.eval.qafile import read_qa_file
from bot.settings import Settings
from core.errors import QAFileError
from index.layout import articles_name
from index.store import Store
from tests.conftest import ARTICLE, run_cli

# Never stored: C0/C1 controls but newline, zero-width, bidi, BOM, soft hyphen, tags.
FORBIDDEN = frozenset(
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list(
        "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d"
        "\u202e\u2066\u2067\u2068\u2069\ufeff"
    )
    + [chr(c) for c in range(0xE0000, 0xE0080)]
)

HOSTILE = (
    "Tittel på en sak\x00 om Bjørnøya\n"
    "Første setning\x00 har en NUL midt i.\f Andre setning kommer etter et form feed.\n"
    + "\x00"
    * 10_000
    + "Tredje setning\ufeff har en BOM midt i teksten.\n"
    "Fjerde \u202esetning\u202c har bidi og \U000e0041tag-tegn\U000e007f.\x1b[2J\n"
    "Femte setning har\u200b null-bredde og myk\u00ad bindestrek.\r\n"
)


def _stored_strings(store: Store) -> list[str]:
    """Every document and string metadata value in every collection of the store."""
    out = []
    for c in store.client.list_collections():
        got = store.client.get_collection(getattr(c, "name", c)).get(
            include=["documents", "metadatas"]
        )
        out += [d for d in got["documents"] if d]
        out += [v for m in got["metadatas"] if m for v in m.values() if isinstance(v, str)]
    return out


def test_nul_control_and_invisible_characters_never_reach_chroma(tmp_path: Path) -> None:
    path = tmp_path / "hostile.txt"
    path.write_bytes(HOSTILE.encode("utf-8"))
    engine = Engine(Settings(store=tmp_path / "store"))
    result = engine.index_files([path])[0]
    stored = _stored_strings(engine.store)
    assert any("Første setning har en NUL midt i." in s for s in stored)
    bad = [s for s in stored if FORBIDDEN & set(s)]
    assert not bad, [repr(s[:80]) for s in bad]
    text = engine.store.article(result.article.id).text
    assert not FORBIDDEN & set(text)
    assert "Bjørnøya" in text and text.count("ø") == HOSTILE.count("ø")  # nothing else lost
    sentences, _ = engine.store.sentences(result.manifest)
    assert all(text[s.start : s.end] == s.text for s in sentences)
    answer = engine.ask("Hva har den tredje setningen midt i teksten?", result.article.id)
    for c in answer.citations:
        assert text[c.sentence.start : c.sentence.end] == c.sentence.text
    with sqlite3.connect(f"file:{tmp_path / 'store' / 'chroma.sqlite3'}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_bom_crlf_and_nfd_files_index_to_the_same_article(tmp_path: Path) -> None:
    plain = tmp_path / "a" / "sak.txt"
    odd = tmp_path / "b" / "sak.txt"
    body = "Bjørnøya på Svalbard\nIsbjørnen gikk på land. Så gikk den tilbake.\n"
    for p, data in (
        (plain, body.encode()),
        (odd, b"\xef\xbb\xbf" + unicodedata.normalize("NFD", body).replace("\n", "\r\n").encode()),
    ):
        p.parent.mkdir()
        p.write_bytes(data)
    engine = Engine(Settings(store=tmp_path / "store"))
    one, two = engine.index_files([plain, odd])
    assert one.article.sha256 == two.article.sha256
    assert one.article.text == two.article.text == body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Bjørn".encode() + b"\xff" + b" og mer.", r"bad.txt: not valid UTF-8 at byte 6"),
        ("Bjørnøya på Svalbard.".encode("cp1252"), "bad.txt: not valid UTF-8 at byte 2 (0xf8)"),
        (b"", "bad.txt: the article is empty"),
        ("\u200b\n\x00 \n".encode(), "bad.txt: the article is empty"),
    ],
)
def test_bad_article_files_stop_indexing_with_name_and_offset(
    tmp_path: Path, cli_env: dict[str, str], data: bytes, expected: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(data)
    r = run_cli(["index", str(bad), "--store", str(tmp_path / "store")], cli_env)
    assert r.returncode == 2
    assert expected in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


# -- embedder and chromadb version changes ---------------------------------------------------


def _ask(question: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["ask", question, "--json", "-q", *args], env, timeout=300)
    assert r.returncode == 0, r.stderr
    record: dict[str, Any] = json.loads(r.stdout)
    return record


def test_same_dimension_embedder_gets_its_own_index(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """e5-small-q4 and all-MiniLM-L6-v2 both give 384 dimensions: nothing but the manifest
    tells their vectors apart, so each must have its own index (docs/reliability-plan.md
    row 22)."""
    store = ["--store", str(tmp_path / "store")]
    question = "Hvem er Sergej Radtsjenko?"
    e5 = _ask(question, store, cli_env)
    minilm = _ask(question, [*store, "--embedder", "st:all-MiniLM-L6-v2"], cli_env)
    probe = (
        "import json, sys\nfrom pathlib import Path\nfrom index.store import Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "print(json.dumps([[m.embedder, m.dimension, m.chroma_collection, len(s.client"
        ".get_collection(m.chroma_collection).get(where={'generation': m.generation})"
        "['ids'])] for m in s.manifests()]))\n"
    )
    import subprocess
    import sys

    from tests.conftest import REPO

    r = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "store")],
        env=cli_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    manifests = sorted(json.loads(r.stdout))
    assert [(m[0], m[1], m[3]) for m in manifests] == [
        ("e5-small-q4", 384, 22),
        ("st:all-MiniLM-L6-v2", 384, 22),
    ]
    assert manifests[0][2] != manifests[1][2]
    text = Path(ARTICLE).read_text(encoding="utf-8")
    for record in (e5, minilm):
        for c in record["citations"]:
            assert text[c["start"] : c["end"]] == c["text"]


def _tamper_manifest(store: Path, **changes: Any) -> None:
    s = Store(store)
    registry = s.client.get_collection(articles_name("e5-small-q4"))
    got = registry.get(include=["metadatas"])
    metas = [{**m, **changes} for m in got["metadatas"]]
    registry.update(ids=got["ids"], metadatas=metas)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"chromadb_version": "0.6.3"}, "built by chromadb 0.6.3"),
        ({"chromadb_version": "2.0.0"}, "built by chromadb 2.0.0"),
        ({"dimension": 768}, "dimension 768 != 384"),
        ({"chunker_version": "sentence-0"}, "chunker sentence-0"),
    ],
)
def test_changed_versions_are_refused_with_the_rebuild_command(
    tmp_path: Path, cli_env: dict[str, str], changes: dict[str, Any], why: str
) -> None:
    store = tmp_path / "store"
    Engine(Settings(store=store)).index_files([ARTICLE])
    _tamper_manifest(store, **changes)
    r = run_cli(["ask", "Hvem er Sergej Radtsjenko?", "--json", "--store", str(store)], cli_env)
    assert r.returncode == 2 and r.stdout == ""
    assert why in r.stderr and "articlebot index --rebuild" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    if changes.get("chromadb_version") == "0.6.3":  # the rebuild cures it
        assert run_cli(["index", "--rebuild", "-q", "--store", str(store)], cli_env).returncode == 0
        assert _ask("Hvem er Sergej Radtsjenko?", ["--store", str(store)], cli_env)["citations"]


# -- the eval parser, property-tested ----------------------------------------------------------

_SCALAR = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_ROW = st.dictionaries(
    st.sampled_from(
        ["id", "question", "answers", "evidence", "answerable", "lang", "context", "extra"]
    ),
    _VALUE,
    max_size=6,
)
_GOOD = st.fixed_dictionaries(
    {
        "id": st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=6),
        "question": st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
            min_size=1,
            max_size=40,
        ).filter(lambda q: any(c.isalnum() for c in q)),
        "answers": st.lists(st.text(alphabet="abcæøå", min_size=1, max_size=10), max_size=2),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        _ROW.map(json.dumps)
        | st.text(max_size=30)
        | st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
        max_size=6,
    ),
    suffix=st.sampled_from([".jsonl", ".json", ".csv"]),
)
def test_eval_parser_never_crashes(lines: list[str], suffix: str) -> None:
    """Any file: a QAFile, or a QAFileError whose message starts with FILE:LINE."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"qa{suffix}"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            read_qa_file(path)
        except QAFileError as exc:
            assert str(exc).startswith(f"{path}:"), str(exc)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_GOOD, min_size=1, max_size=8, unique_by=lambda r: r["id"]))
def test_eval_parser_reads_back_what_was_written(rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qa.jsonl"
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        items = read_qa_file(path).items
    assert [i.id for i in items] == [r["id"] for r in rows]
    assert [i.answers for i in items] == [tuple(r["answers"]) for r in rows]
