"""Crash safety: `kill -9` at any point of an index rebuild leaves the previous index answering.

docs/reliability-plan.md rows 19 (kill -9 during a build) and 20 (atomic swap and manifest). A real
`articlebot index --rebuild` runs in a subprocess and is SIGKILLed at seeded points spread over
its whole run (imports, model load, embedding, Chroma writes, the pointer flip, the drop of
the old generation's rows). Every check of the store after a kill runs in a child process, so that a
segfault in Chroma's loader shows as exit code 139 instead of killing pytest.

`ARTICLEBOT_TEST_KILL_SEEDS` sets how many kill points are tried (default 6; the plan asks for
20 or more in a long run).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from index.article import read_article
from tests.conftest import ARTICLE, REPO, run_cli

GOLDEN = "Hvem er Sergej Radtsjenko?"
SEEDS = int(os.environ.get("ARTICLEBOT_TEST_KILL_SEEDS", "6"))

# Run in a child process: the store's collections, pointers and manifests, and the answer
# to the golden question, as JSON (one child instead of two keeps the many kill points cheap).
PROBE = """
import json, sys
from collections import Counter
from pathlib import Path
from bot.engine import Engine
from bot.settings import Settings
from index.store import Store
store = Store(Path(sys.argv[1]))
names = sorted(getattr(c, "name", c) for c in store.client.list_collections())
manifests = store.manifests()
counts = Counter()
for name in {m.chroma_collection for m in manifests}:
    rows = store.client.get_collection(name).get(include=["metadatas"])["metadatas"]
    counts.update(m["generation"] for m in rows)
found = [s.id for s, _ in store.search(store.sentences(manifests[0])[1][0], k=1000)]
record = None
if len(sys.argv) > 2:
    engine = Engine(Settings(store=Path(sys.argv[1])))
    record = engine.ask(sys.argv[2], engine.resolve_article()).to_record()
    record.pop("timings_ms")
print(json.dumps({
    "collections": names,
    "generations": sorted(counts),
    "pointers": [m.generation for m in manifests],
    "manifest_counts": {m.generation: m.sentence_count for m in manifests},
    "counts": counts,
    "searched": len(found), "searched_unique": len(set(found)),
    "text_ok": all(store.text(m.article_sha256) for m in manifests),
    "record": record,
}))
"""


def _probe(store: Path, env: dict[str, str], question: str | None = None) -> dict[str, Any]:
    args = [sys.executable, "-c", PROBE, str(store), *([question] if question else [])]
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert r.returncode not in (139, -signal.SIGSEGV), "the reader segfaulted"
    assert r.returncode == 0, f"probe exit {r.returncode}: {r.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def _quick_check(store: Path) -> str:
    """SQLite's own check of the store's database, opened as the next process opens it: a
    writer killed mid-transaction leaves a hot journal, which SQLite rolls back on the first
    read-write open (a read-only connection cannot, and fails with "attempt to write a
    readonly database" instead of checking)."""
    with sqlite3.connect(store / "chroma.sqlite3") as db:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])


def _answer(store: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["ask", GOLDEN, "--json", "--store", str(store)], env, timeout=120)
    assert r.returncode != -signal.SIGSEGV and r.returncode != 139, "the reader segfaulted"
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    record: dict[str, Any] = json.loads(r.stdout)
    record.pop("timings_ms")
    return record


def _check_citations(record: dict[str, Any]) -> None:
    text = read_article(ARTICLE).text
    assert record["citations"] and not record["abstained"]
    for c in record["citations"]:
        assert text[c["start"] : c["end"]] == c["text"]


def _rebuild_cmd(store: Path) -> list[str]:
    return [sys.executable, "-m", "bot", "index", "--rebuild", "-q", "--store", str(store)]


def test_kill_9_during_rebuild_keeps_the_previous_index(
    built: Path, cli_env: dict[str, str]
) -> None:
    store = built
    golden = _answer(store, cli_env)
    _check_citations(golden)

    # One full rebuild, timed, to spread the kill points over a whole run on this machine.
    t0 = time.monotonic()
    subprocess.run(
        _rebuild_cmd(store), env=cli_env, cwd=REPO, check=True, timeout=300, capture_output=True
    )
    span = time.monotonic() - t0
    print(f"\none `index --rebuild` takes {span:.2f} s; {SEEDS} kill points")

    killed = 0
    for i in range(SEEDS):
        rng = random.Random(i)
        delay = span * (i + rng.random()) / SEEDS  # stratified: every part of the run
        child = subprocess.Popen(
            _rebuild_cmd(store),
            env=cli_env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed += 1
        child.wait(timeout=60)
        print(f"seed {i}: killed at {delay:.2f} s (exit {child.returncode})")

        assert _quick_check(store) == "ok"
        state = _probe(store, cli_env, GOLDEN)
        assert state["record"] == golden  # old or new index, never half: the same answer
        _check_citations(state["record"])
        assert len(state["pointers"]) == 1
        live = state["pointers"][0]
        assert live in state["generations"]
        assert state["counts"][live] == state["manifest_counts"][live]  # manifest == contents
        assert state["searched"] == state["searched_unique"] == 22  # no dead rows returned
        assert state["text_ok"]
        assert not [n for n in state["collections"] if n.startswith("ab-")]
    assert killed > 0, "no run was killed mid-way: the kill points are all too late"

    # The next writer removes what dead builds left behind.
    r = run_cli(["index", "--store", str(store)], cli_env)
    assert r.returncode == 0, r.stderr
    state = _probe(store, cli_env)
    assert state["generations"] == state["pointers"]
    assert len(state["collections"]) == 2  # the embedder's sentences and its registry
    assert _quick_check(store) == "ok"
    assert _answer(store, cli_env) == golden


# A build of a new generation that SIGKILLs itself at a chosen point.
DIE_DURING_BUILD = """
import os, signal, sys
from pathlib import Path
from index.store import Store
store = Store(Path(sys.argv[1]))
manifest = store.manifests()[0]
sentences, vectors = store.sentences(manifest)
article = store.article(manifest.article_id)
def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)
flip = store._registry.flip
if sys.argv[2] == "before-flip":
    store._registry.flip = die
else:  # after the flip, before the previous generation's rows are deleted
    def flip_then_die(*args):
        flip(*args)
        die()
    store._registry.flip = flip_then_die
with store.writer():
    store.write_sentences(article, sentences, vectors, manifest.embedder,
                          manifest.chunker_version)
"""


@pytest.mark.parametrize("when", ["before-flip", "after-flip"])
def test_a_dead_generation_is_never_read_and_is_swept_by_the_next_writer(
    built: Path, cli_env: dict[str, str], when: str
) -> None:
    """A build killed before its flip leaves rows of a generation no record names; one
    killed after it leaves the previous generation's rows. Readers return neither (not even
    `search` over every row), and the next writer deletes them."""
    store = built
    golden = _answer(store, cli_env)
    before = _probe(store, cli_env)
    r = subprocess.run(
        [sys.executable, "-c", DIE_DURING_BUILD, str(store), when],
        env=cli_env,
        cwd=REPO,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    dead = _probe(store, cli_env, GOLDEN)
    assert len(dead["generations"]) == 2  # the live one and the dead one
    if when == "before-flip":
        assert dead["pointers"] == before["pointers"]
    else:
        assert dead["pointers"] != before["pointers"]
    assert dead["searched"] == dead["searched_unique"] == 22
    assert dead["record"] == golden
    assert _quick_check(store) == "ok"
    assert run_cli(["index", "-q", "--store", str(store)], cli_env).returncode == 0
    after = _probe(store, cli_env)
    assert after["generations"] == after["pointers"] == dead["pointers"]
    assert after["counts"] == {dead["pointers"][0]: 22}
    assert _answer(store, cli_env) == golden


def test_pointer_whose_collection_disagrees_with_its_manifest_is_refused(
    built: Path, cli_env: dict[str, str]
) -> None:
    """A pointer whose rows do not hold what its manifest says (a wedged or half-written
    index) is an error naming the rebuild, never a quiet answer."""
    store = built
    tamper = (
        "import sys\n"
        "from pathlib import Path\n"
        "from index.layout import articles_name\n"
        "from index.store import Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "reg = s.client.get_collection(articles_name('e5-small-q4'))\n"
        "got = reg.get(include=['metadatas'])\n"
        "meta = dict(got['metadatas'][0]); meta[sys.argv[2]] = int(meta[sys.argv[2]]) + 1\n"
        "reg.update(ids=got['ids'], metadatas=[meta])\n"
    )
    subprocess.run(
        [sys.executable, "-c", tamper, str(store), "sentence_count"],
        env=cli_env,
        cwd=REPO,
        check=True,
        timeout=120,
    )
    r = run_cli(["ask", GOLDEN, "--json", "--store", str(store)], cli_env)
    assert r.returncode == 2 and "articlebot index --rebuild" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert run_cli(["index", "--rebuild", "-q", "--store", str(store)], cli_env).returncode == 0
    _check_citations(_answer(store, cli_env))
