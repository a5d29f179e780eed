from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real web chat in a subprocess (`python app.py`)."""
    import os

    tmp = tmp_path_factory.mktemp("web")
    port = _free_port()
    env = {**os.environ, "ARTICLEBOT_STORE": str(tmp / "store"),
           "XDG_DATA_HOME": str(tmp / "xdg")}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError as exc:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"the web chat died: {output}") from exc
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_chat_endpoint_answers_with_sources(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    reply = client.predict("Hvem er Sergej Radtsjenko?", api_name="/chat")
    assert "Kilder / Sources" in reply
    assert "Sergej Radtsjenko" in reply


def test_gradio_version_gate() -> None:
    import gradio
    from packaging.version import Version

    assert Version(gradio.__version__) >= Version("6.16")


def test_non_loopback_needs_auth(tmp_path: Path) -> None:
    from bot.settings import Settings
    from bot.web import serve
    from index.errors import ConfigError

    with pytest.raises(ConfigError, match="--auth"):
        serve(Settings(store=tmp_path, host="0.0.0.0"), lambda _: None)
