"""A scripted OpenAI-compatible (and Ollama-native) chat server on loopback.

Nothing here can reach a real model, so the tests and `articlebot bench` talk to this one: it
answers with a scripted reply, streamed in small pieces at a set pace, and records what it
was asked. It is a stand-in for a model server, never used on the answer path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the server answers, and what it was asked."""

    reply: str = "Ok [1]."
    delay_s: float = 0.0  # before the first byte
    piece_delay_s: float = 0.0  # between streamed pieces: a model that writes slowly
    piece_chars: int = 3
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are recorded in the script instead."""
        return None

    def do_POST(self) -> None:
        """Answer one chat request as the script says."""
        script = self.server.script
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        script.requests.append(body)
        script.headers.append({k.lower(): v for k, v in self.headers.items()})
        # the script's pace stands for a remote model's own time (thinking, writing); it is
        # never articlebot's work: the bench subtracts it and reports what is left
        time.sleep(script.delay_s)
        try:
            if self.path == "/api/chat" and script.status == 200:
                self._ollama(body, script.reply)
            elif self.path.rstrip("/") != "/v1/chat/completions" or script.status != 200:
                self._send(
                    script.status if script.status != 200 else 404,
                    {"error": {"message": "scripted failure", "type": "x"}},
                )
            elif body.get("stream"):
                self._stream(body["model"], script.reply)
            else:
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": script.reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout case)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _ollama(self, body: dict[str, Any], reply: str) -> None:
        """Ollama's native /api/chat: one JSON object, or NDJSON lines when streaming."""
        pieces = (
            [reply[i : i + 3] for i in range(0, len(reply), 3)] if body.get("stream") else [reply]
        )
        lines = [
            {
                "model": body["model"],
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": p},
                "done": False,
            }
            for p in pieces
        ]
        lines.append(
            {
                "model": body["model"],
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
            }
        )
        if not body.get("stream"):
            lines = [{**lines[-1], "message": {"role": "assistant", "content": reply}}]
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, model: str, reply: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        size = max(1, self.server.script.piece_chars)
        pieces = [reply[i : i + size] for i in range(0, len(reply), size)]
        for i, piece in enumerate([*pieces, None]):
            if i:
                time.sleep(self.server.script.piece_delay_s)
            delta = {"content": piece} if piece is not None else {}
            chunk: dict[str, Any] = {
                "id": "cmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": None if piece else "stop"}
                ],
            }
            if i == 0:
                chunk["choices"][0]["delta"]["role"] = "assistant"
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    script: Script


@contextmanager
def scripted_server(script: Script | None = None) -> Iterator[tuple[str, Script]]:
    """Serve a script on a free loopback port: (the OpenAI-style base URL, the script)."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.script = script or Script()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd.script
    finally:
        httpd.shutdown()
        httpd.server_close()
