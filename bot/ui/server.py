"""The web server: the Gradio chat and the JSON API in one ASGI app, on one socket.

`serve` binds the socket before anything loads (a busy port is one line at once), builds the
engine and the chat, and runs uvicorn on it. `asgi_app` puts the API under `/api/v1`, mounts
Gradio with our CSS and script (`bot/ui/assets/`), refuses foreign Host headers on loopback,
and guards Gradio's REST routes (`RestGuard`).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from importlib import resources
from typing import Any

from bot.engine import Engine
from bot.settings import Settings
from bot.ui.web import build_app
from core.errors import ConfigError


def asset(name: str) -> str:
    """A file of `bot/ui/assets/` (the chat's CSS and script) as text."""
    return (resources.files("bot.ui") / "assets" / name).read_text(encoding="utf-8")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth(settings: Settings) -> tuple[str, str] | None:
    if settings.auth is None:
        return None
    user, sep, password = settings.auth.get_secret_value().partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must be USER:PASSWORD")
    return user, password


def serve(settings: Settings, notice: Callable[[str], None]) -> int:
    """Build the index if needed and serve the web chat until interrupted."""
    auth = _auth(settings)
    if not is_loopback(settings.host) and auth is None:
        raise ConfigError(f"binding {settings.host} exposes the chat beyond this machine; "
                          "give --auth USER:PASSWORD (or ARTICLEBOT_AUTH)")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    # The socket is bound before any loading, so a busy port or an address this machine
    # does not have is one line at once, and uvicorn serves on exactly this socket.
    sock = listening_socket(settings.host, settings.port)
    engine = Engine(settings)
    article_id = engine.resolve_article(settings.article, notice=notice)
    engine.load(article_id)  # before the first visitor waits for it
    server = asgi_app(build_app(engine, article_id), settings, engine, article_id)
    notice(f"serving {article_id!r} at http://{settings.host}:{settings.port} "
           f"(API: http://{settings.host}:{settings.port}/api/v1, docs at /docs)")
    config = uvicorn.Config(server, log_level="warning", log_config=None)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; ConfigError when that cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OverflowError:
        sock.close()
        raise ConfigError(f"--port {port}: a port is a number from 1 to 65535") from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; pick another with "
                              "--port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class RestGuard:
    """ASGI middleware in front of Gradio's REST routes (`/gradio_api/run/NAME`, `/call/NAME`).

    A raw REST call must give every input of an endpoint, where `gradio_client` fills in the
    defaults; a malformed body makes Gradio answer 500 and log a traceback. Here a body that is
    not JSON, or whose `data` is not a list, is answered 400 with a one-line JSON error; too
    many inputs is 422; missing trailing inputs get the component's default, so
    `{"data": [question]}` works for `/chat` as the client's call with the message alone does.
    """

    def __init__(self, app: Any, defaults: dict[str, list[Any]], limit: int) -> None:
        self.app, self.defaults, self.limit = app, defaults, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check (and complete) a REST call's body before Gradio sees it."""
        path = str(scope.get("path", "")) if scope.get("type") == "http" else ""
        name = _rest_endpoint(path) if scope.get("method") == "POST" else None
        if name is None or name not in self.defaults:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _json_error(send, 413, "too_large", f"larger than {self.limit} bytes")
                return
            if not message.get("more_body"):
                break
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            await _json_error(send, 400, "malformed", "the body is not valid UTF-8 JSON")
            return
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            await _json_error(send, 400, "malformed", 'the body must be {"data": [...]}')
            return
        defaults = self.defaults[name]
        if len(data) > len(defaults):
            await _json_error(send, 422, "invalid", f"/{name} takes at most {len(defaults)} "
                                                    "inputs")
            return
        payload["data"] = data + defaults[len(data):]
        replay = json.dumps(payload).encode("utf-8")
        sent = False

        async def replayed() -> dict[str, Any]:
            nonlocal sent
            if sent:
                message: dict[str, Any] = await receive()
                return message
            sent = True
            return {"type": "http.request", "body": replay, "more_body": False}

        headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(replay)).encode()))
        await self.app({**scope, "headers": headers}, replayed, send)


def _rest_endpoint(path: str) -> str | None:
    for prefix in ("/gradio_api/run/", "/gradio_api/call/"):
        if path.startswith(prefix):
            rest = path[len(prefix):].strip("/")
            return rest if rest and "/" not in rest else None
    return None


async def _json_error(send: Any, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def rest_defaults(blocks: Any) -> dict[str, list[Any]]:
    """For each named endpoint, the default value of each of its inputs, in order, as a
    REST call's `data` gives them."""
    out: dict[str, list[Any]] = {}
    for fn in blocks.fns.values():
        if fn.api_name:
            out[str(fn.api_name)] = [getattr(c, "value", None) for c in fn.inputs]
    return out


# Names a browser may use for a chat bound to loopback (the Host header, without port).
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]


def asgi_app(blocks: Any, settings: Settings, engine: Engine, article_id: str) -> Any:
    """The web server: the JSON API under `/api/v1` and the Gradio app (queued as settings
    say, never shared, auth when given, uploads capped, errors generic with details in the
    log, our CSS and click script) inside an app that, on loopback, refuses any other Host
    header.

    The Host check defeats DNS rebinding, and keeps Gradio from answering a foreign origin
    with credentialed CORS, which it does for any Host it does not know as local.
    """
    import gradio as gr
    from fastapi import FastAPI
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from bot import __version__
    from bot.ui.api import mount_api

    blocks.queue(default_concurrency_limit=settings.concurrency_limit,
                 max_size=settings.queue_max_size)
    outer = FastAPI(title="articlebot", version=__version__, docs_url=None, redoc_url=None,
                    openapi_url=None)
    mount_api(outer, engine, settings, article_id)
    if is_loopback(settings.host):
        outer.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)
    app = gr.mount_gradio_app(
        outer, blocks, path="/", server_name=settings.host, server_port=settings.port,
        auth=_auth(settings), max_file_size=settings.max_upload_bytes, show_error=False,
        ssr_mode=False, css=asset("chat.css"), head=f"<script>\n{asset('chat.js')}</script>",
        enable_monitoring=False, run_history=False)
    # Gradio checks that a file given to an event was uploaded through its own route (and
    # refuses it before copying anything into its cache) only once Blocks "has launched",
    # which `launch()` sets and mounting does not: without this, any client could name a
    # server file in an event's FileData and have it read.
    blocks.has_launched = True
    return RestGuard(app, rest_defaults(blocks), limit=max(settings.max_upload_bytes,
                                                           settings.max_question_chars * 8))
