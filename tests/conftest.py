"""Shared fixtures: no network beyond loopback, temporary stores, the real models."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
ARTICLE = REPO / "index" / "data" / "article.txt"
# the development questions about the bundled article (shipped: the bench's default)
DEV_QA = REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl"

# The public datasets (NorQuAD, XQuAD) are not in the repo: tests that need them read them
# from this folder (`norquad/{train,validation}.jsonl`, `xquad/xquad.{en,de,es}.json`);
# `make data` downloads them. Only the tests read this variable, never the product.
DATASETS = Path(os.environ.get("ARTICLEBOT_DATASETS") or REPO.parent / "shared" / "data")


def dataset(*parts: str) -> Path:
    """A file of the public datasets folder (`DATASETS`). Missing: the test is skipped with
    a loud reason, but fails under CI (`CI=true`), where the datasets must be there."""
    path = DATASETS.joinpath(*parts)
    if not path.is_file():
        reason = (
            f"{path} is missing: set ARTICLEBOT_DATASETS to the folder holding "
            "norquad/ and xquad/ (`make data DATASETS=DIR` downloads them)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # a Unix socket path
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond loopback fails the test loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


# What makes a test an integration test (`-m integration`; `make test-fast` leaves them out):
# it loads the real embedder or a store built with it, runs the CLI in a subprocess, a server
# or a browser. Marked here by fixture and by what its module runs, so no test is missed.
_INTEGRATION_FIXTURES = frozenset({"shared_store", "e5", "cli_env", "page", "browser"})
_INTEGRATION_CALLS = (
    "Engine(",
    "make_embedder(",
    "run_cli(",
    "running_app(",
    "subprocess",
    "Store(",
    "index_files(",
    "load_scorer(",
    "Indexer(",
    "E5File(",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark integration tests (see `_INTEGRATION_FIXTURES`, `_INTEGRATION_CALLS`); a test
    using only `fake_embedder` and none of those stays in the fast loop."""
    sources: dict[Path, str] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path not in sources:
            sources[path] = path.read_text(encoding="utf-8")
        fixtures = set(getattr(item, "fixturenames", ()))
        heavy = bool(fixtures & _INTEGRATION_FIXTURES) or (
            "fake_embedder" not in fixtures
            and any(call in sources[path] for call in _INTEGRATION_CALLS)
        )
        if heavy or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def fake_embedder() -> Any:
    """The deterministic embedder of tests/fakes.py, registered as `FAKE_EMBEDDER`."""
    from tests.fakes import register_fake_embedder

    return register_fake_embedder()


@pytest.fixture()
def store_dir(tmp_path: Path) -> Path:
    """An empty store directory."""
    return tmp_path / "store"


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the bundled article indexed with the default embedder (built once)."""
    from bot.engine import Engine, bundled_article_path
    from bot.settings import Settings

    path = tmp_path_factory.mktemp("shared") / "store"
    Engine(Settings(store=path)).index_files([bundled_article_path()])
    return path


@pytest.fixture()
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real CLI in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run_cli(
    args: list[str], env: dict[str, str], input_text: str | None = None, timeout: float = 300
) -> Any:
    """Run `python -m bot ARGS` and return the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input_text,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def e5() -> Iterator[Any]:
    """The real packaged e5-small-q4 embedder."""
    from index.embedder import make_embedder

    yield make_embedder("e5-small-q4")
