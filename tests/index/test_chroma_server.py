"""A Chroma server instead of the embedded store (`--chroma-url`;
docs/reliability-plan.md row 25).

The server is the real one the chromadb package ships (`chroma run`), bound to 127.0.0.1 on a
free port with its own data directory. Answers through it must equal the embedded store's;
a dead, hung or refusing server is a one-line error with exit code 2, within seconds.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from index.article import read_article
from index.layout import articles_name, sentences_name
from tests.conftest import ARTICLE, DEV_QA, REPO, run_cli

# Through the server: the generations its rows carry, the live one, and what `search` finds.
SERVER_ROWS = """
import json, sys
from pathlib import Path
from index.store import Store
store = Store(Path(sys.argv[2]), chroma_url=sys.argv[1])
m = store.manifest("article", "e5-small-q4")
rows = store.client.get_collection(m.chroma_collection).get(include=["metadatas"])
vectors = store.sentences(m)[1]
found = {s.id for s, _ in store.search(vectors[0], k=100)}
print(json.dumps([sorted({r["generation"] for r in rows["metadatas"]}), m.generation,
                  len(found)]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _chroma_binary() -> str:
    path = Path(sys.executable).parent / "chroma"
    if not path.exists():
        pytest.fail(f"the `chroma` command of the chromadb package is missing ({path})")
    return str(path)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1; yields its URL."""
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [
            _chroma_binary(),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--path",
            str(data / "db"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def _ask(question: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["ask", question, "--json", "-q", *args], env, timeout=300)
    assert r.returncode == 0, r.stderr
    record: dict[str, Any] = json.loads(r.stdout)
    record.pop("timings_ms")
    return record


def _predictions(out: Path) -> list[dict[str, Any]]:
    records = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    for r in records:
        r.pop("timings_ms")
    return records


def test_server_answers_equal_the_embedded_store(
    chroma_server: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # --store still names where the writer lock lives; the data is on the server.
    server = ["--chroma-url", chroma_server, "--store", str(tmp_path / "lock")]
    embedded = ["--store", str(tmp_path / "embedded")]
    r = run_cli(["index", *server], cli_env, timeout=300)
    assert r.returncode == 0, r.stderr
    r = run_cli(["articles", *server], cli_env)
    assert r.stdout.startswith("article\t22\te5-small-q4\tEkspert: Putins"), r.stderr
    # every dev question (24, some unanswerable) through both stores: identical records
    for args, out in ((server, "on-server"), (embedded, "embedded")):
        r = run_cli(
            ["eval", str(DEV_QA), "--out", str(tmp_path / out), "-q", *args], cli_env, timeout=300
        )
        assert r.returncode == 0, r.stderr
    on_server = _predictions(tmp_path / "on-server")
    assert len(on_server) == 24
    assert on_server == _predictions(tmp_path / "embedded")
    text = read_article(ARTICLE).text
    for record in on_server:
        for c in record["citations"]:
            assert text[c["start"] : c["end"]] == c["text"]
    # a rebuild on the server flips the pointer there and deletes the old generation's rows
    assert run_cli(["index", "--rebuild", "-q", *server], cli_env).returncode == 0
    first = {**on_server[0], "id": None}
    assert _ask(first["question"], server, cli_env) == first
    with urllib.request.urlopen(
        f"{chroma_server}/api/v2/tenants/default_tenant/databases/default_database/collections",
        timeout=10,
    ) as resp:
        names = sorted(c["name"] for c in json.load(resp))
    assert names == [articles_name("e5-small-q4"), sentences_name("e5-small-q4")], names
    r = subprocess.run(
        [sys.executable, "-c", SERVER_ROWS, chroma_server, str(tmp_path / "lock")],
        env=cli_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    generations, live, searched = json.loads(r.stdout)
    assert generations == [live] and searched == 22  # one live generation of 22 rows


def _assert_clean_failure(r: Any, expected: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert expected in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_dead_server_is_a_clear_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    for cmd in (["ask", "Hvem er Sergej Radtsjenko?"], ["index"], ["articles"]):
        r = run_cli(
            [*cmd, "--chroma-url", url, "--store", str(tmp_path / "s")], cli_env, timeout=120
        )
        _assert_clean_failure(r, f"cannot reach the Chroma server at {url}")


def test_hung_server_is_a_clear_error_not_a_hang(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A server that accepts connections but never answers: chromadb's client alone would
    wait forever; the heartbeat check gives up after its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        r = run_cli(
            [
                "ask",
                "Hvem er Sergej Radtsjenko?",
                "--chroma-url",
                url,
                "--store",
                str(tmp_path / "s"),
            ],
            cli_env,
            timeout=120,
        )
        print(f"\nhung server: gave up after {time.monotonic() - t0:.1f} s")
    _assert_clean_failure(r, f"cannot reach the Chroma server at {url}")


class _Refusing(http.server.BaseHTTPRequestHandler):
    """An authenticating proxy in front of Chroma that rejects the token it gets."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        _Refusing.seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_wrong_token_is_a_clear_error_and_the_token_is_sent(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        r = run_cli(
            [
                "ask",
                "Hvem er Sergej Radtsjenko?",
                "--chroma-url",
                url,
                "--chroma-token",
                "s3cret-token",
                "--store",
                str(tmp_path / "s"),
            ],
            cli_env,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    _assert_clean_failure(r, "refused the request (HTTP 401); check --chroma-token")
    assert "s3cret-token" not in r.stderr  # the token is never echoed
    assert _Refusing.seen == ["Bearer s3cret-token"]


def test_malformed_url_is_a_clear_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    r = run_cli(
        ["ask", "Hvem?", "--chroma-url", "localhost:8000", "--store", str(tmp_path / "s")],
        cli_env,
        timeout=120,
    )
    _assert_clean_failure(r, "expected http(s)://HOST:PORT")
