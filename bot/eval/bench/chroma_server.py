"""A `chroma run` server on loopback for the scale bench's server backend."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bot.eval.bench.child import child_env
from core.errors import ConfigError


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ChromaServer:
    """A `chroma run` on 127.0.0.1 with its own data directory, for the bench's lifetime."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ChromaServer:
        import urllib.request

        binary = Path(sys.executable).parent / "chroma"
        if not binary.exists():
            raise ConfigError(f"bench --scale: the `chroma` command is missing ({binary})")
        port = _free_port()
        self.data.mkdir(parents=True, exist_ok=True)
        log = (self.data / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [
                str(binary),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--path",
                str(self.data / "db"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env({"ANONYMIZED_TELEMETRY": "False"}),
        )
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise ConfigError(
                    "bench --scale: `chroma run` did not start: "
                    + (self.data / "server.log").read_text(errors="replace")[-300:]
                )
            time.sleep(0.3)

    @property
    def pid(self) -> int | None:
        """The server's process id (None before it starts)."""
        return self._proc.pid if self._proc else None

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
