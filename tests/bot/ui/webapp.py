"""The real web chat in a subprocess (`python app.py`), for gradio_client and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO


@dataclass(frozen=True)
class WebApp:
    """A running web chat: its URL and its data dir (feedback, uploads)."""

    url: str
    port: int
    data_dir: Path
    store: Path
    log: Path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(
    tmp: Path, *extra: str, timeout: float = 180, env_extra: dict[str, str] | None = None
) -> Iterator[WebApp]:
    """Start `python app.py` on a free port with its own store and data dir; stop it after.

    The app gets the defaults exactly: no ARTICLEBOT_ or GRADIO_SERVER_ variables of ours."""
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ARTICLEBOT_", "GRADIO_SERVER_"))
    }
    env.update(
        {
            "ARTICLEBOT_STORE": str(tmp / "store"),
            "XDG_DATA_HOME": str(tmp / "xdg"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONIOENCODING": "utf-8",
            **(env_extra or {}),
        }
    )
    log = tmp / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), *extra],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the web chat died: {log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web chat did not start: {log.read_text()}")
            time.sleep(0.5)
        yield WebApp(
            url=url, port=port, data_dir=tmp / "xdg" / "articlebot", store=tmp / "store", log=log
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
