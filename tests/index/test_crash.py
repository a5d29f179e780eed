"""Crash safety: `kill -9` at any point of an index rebuild leaves the previous index answering.

Reliability plan rows 19 (kill -9 during a build) and 20 (atomic swap and manifest). A real
`articlebot index --rebuild` runs in a subprocess and is SIGKILLed at seeded points spread over
its whole run (imports, model load, embedding, Chroma writes, the pointer flip, the drop of
the old collection). Every check of the store after a kill runs in a child process, so that a
segfault in Chroma's loader (chroma#7238) shows as exit code 139 instead of killing pytest.

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

from index.article import read_article
from tests.conftest import ARTICLE, REPO, run_cli

GOLDEN = "Hvem er Sergej Radtsjenko?"
SEEDS = int(os.environ.get("ARTICLEBOT_TEST_KILL_SEEDS", "6"))

# Run in a child process: the store's collections, pointers and manifests, and the answer
# to the golden question, as JSON (one child instead of two keeps the many kill points cheap).
PROBE = """
import json, sys
from pathlib import Path
from bot.engine import Engine
from bot.settings import Settings
from index.store import COLLECTION_PREFIX, Store
store = Store(Path(sys.argv[1]))
names = sorted(getattr(c, "name", c) for c in store.client.list_collections())
manifests = store.manifests()
counts = {m.collection: store.client.get_collection(m.collection).count() for m in manifests}
record = None
if len(sys.argv) > 2:
    engine = Engine(Settings(store=Path(sys.argv[1])))
    record = engine.ask(sys.argv[2], engine.resolve_article()).to_record()
    record.pop("timings_ms")
print(json.dumps({
    "collections": [n for n in names if n.startswith(COLLECTION_PREFIX)],
    "pointers": [m.collection for m in manifests],
    "manifest_counts": {m.collection: m.sentence_count for m in manifests},
    "counts": counts,
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
    with sqlite3.connect(f"file:{store / 'chroma.sqlite3'}?mode=ro", uri=True) as db:
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
        assert text[c["start"]:c["end"]] == c["text"]




def _rebuild_cmd(store: Path) -> list[str]:
    return [sys.executable, "-m", "bot", "index", "--rebuild", "-q", "--store", str(store)]


def test_kill_9_during_rebuild_keeps_the_previous_index(built: Path,
                                                       cli_env: dict[str, str]) -> None:
    store = built
    golden = _answer(store, cli_env)
    _check_citations(golden)

    # One full rebuild, timed, to spread the kill points over a whole run on this machine.
    t0 = time.monotonic()
    subprocess.run(_rebuild_cmd(store), env=cli_env, cwd=REPO, check=True, timeout=300,
                   capture_output=True)
    span = time.monotonic() - t0
    print(f"\none `index --rebuild` takes {span:.2f} s; {SEEDS} kill points")

    killed = 0
    for i in range(SEEDS):
        rng = random.Random(i)
        delay = span * (i + rng.random()) / SEEDS  # stratified: every part of the run
        child = subprocess.Popen(_rebuild_cmd(store), env=cli_env, cwd=REPO,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        assert live in state["collections"]
        assert state["counts"][live] == state["manifest_counts"][live]  # manifest == contents
        assert state["text_ok"]
    assert killed > 0, "no run was killed mid-way: the kill points are all too late"

    # The next writer removes what dead builds left behind.
    r = run_cli(["index", "--store", str(store)], cli_env)
    assert r.returncode == 0, r.stderr
    state = _probe(store, cli_env)
    assert state["collections"] == state["pointers"]
    assert _quick_check(store) == "ok"
    assert _answer(store, cli_env) == golden


def test_dead_build_leftovers_are_swept_by_the_next_writer(built: Path,
                                                           cli_env: dict[str, str]) -> None:
    """A build killed after creating its collection, before the flip, leaves a collection
    no pointer names; readers ignore it and the next `index` removes it."""
    store = built
    make_orphan = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from index.store import Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "c = s.client.create_collection('ab-deadbeef0000-00000000', embedding_function=None)\n"
        "c.add(ids=['x'], embeddings=np.ones((1, 384), dtype=np.float32), documents=['x'])\n"
    )
    subprocess.run([sys.executable, "-c", make_orphan, str(store)], env=cli_env, cwd=REPO,
                   check=True, timeout=120)
    before = _probe(store, cli_env)
    assert "ab-deadbeef0000-00000000" in before["collections"]
    _check_citations(_answer(store, cli_env))  # readers only follow the pointer
    assert run_cli(["index", "-q", "--store", str(store)], cli_env).returncode == 0
    after = _probe(store, cli_env)
    assert after["collections"] == after["pointers"] == before["pointers"]


def test_pointer_whose_collection_disagrees_with_its_manifest_is_refused(
        built: Path, cli_env: dict[str, str]) -> None:
    """A pointer whose collection does not hold what its manifest says (a wedged or
    half-written index, chroma#7678) is an error naming the rebuild, never a quiet answer."""
    store = built
    tamper = (
        "import sys\n"
        "from pathlib import Path\n"
        "from index.store import REGISTRY, Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "reg = s.client.get_collection(REGISTRY)\n"
        "got = reg.get(where={'kind': 'index'}, include=['metadatas', 'documents'])\n"
        "meta = dict(got['metadatas'][0]); meta[sys.argv[2]] = int(meta[sys.argv[2]]) + 1\n"
        "reg.update(ids=got['ids'], metadatas=[meta])\n"
    )
    subprocess.run([sys.executable, "-c", tamper, str(store), "sentence_count"], env=cli_env,
                   cwd=REPO,
                   check=True, timeout=120)
    r = run_cli(["ask", GOLDEN, "--json", "--store", str(store)], cli_env)
    assert r.returncode == 2 and "articlebot index --rebuild" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert run_cli(["index", "--rebuild", "-q", "--store", str(store)],
                   cli_env).returncode == 0
    _check_citations(_answer(store, cli_env))
