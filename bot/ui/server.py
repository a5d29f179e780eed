"""The web server: the Gradio chat and the JSON API in one ASGI app, on one socket.

`serve` binds the socket before anything loads (a busy port is one line at once), builds the
engine and the chat, and runs uvicorn on it. `asgi_app` puts the API under `/api/v1`, mounts
Gradio with our CSS and script (`bot/ui/assets/`), and puts two guards in front: `EdgeGuard`
(one Host header, and on loopback only a loopback name; writes only from this origin, the
API's only as JSON; no credentialed CORS for another origin; nothing of the app before
login) and `RestGuard` (Gradio's REST routes).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from bot.engine import Engine
from bot.settings import Settings
from bot.ui.web import build_app
from core.errors import ConfigError

log = logging.getLogger(__name__)


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
        raise ConfigError(
            f"binding {settings.host} exposes the chat beyond this machine; "
            "give --auth USER:PASSWORD (or ARTICLEBOT_AUTH)"
        )
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import uvicorn

    # The socket is bound before any loading, so a busy port or an address this machine
    # does not have is one line at once, and uvicorn serves on exactly this socket.
    sock = listening_socket(settings.host, settings.port)
    engine = Engine(settings)
    article_id = engine.resolve_article(settings.article, notice=notice)
    engine.load(article_id)  # before the first visitor waits for it
    server = asgi_app(build_app(engine, article_id), settings, engine, article_id)
    notice(
        f"serving {article_id!r} at http://{settings.host}:{settings.port} "
        f"(API: http://{settings.host}:{settings.port}/api/v1, docs at /docs)"
    )
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
            raise ConfigError(
                f"port {port} on {host} is in use; pick another with --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class RestParameter:
    """One documented input of a REST endpoint: its name, the value used when it is omitted,
    and whether it must be given."""

    name: str
    default: Any
    required: bool


@dataclass(frozen=True)
class RestEndpoint:
    """A REST endpoint: its documented inputs, and for each of its function's inputs whether
    it is hidden from the API (a gr.State, such as the chat's history)."""

    parameters: tuple[RestParameter, ...]
    hidden: tuple[bool, ...]


class RestGuard:
    """ASGI middleware in front of Gradio's REST routes (`/gradio_api/run/NAME`,
    `/api/NAME`, `/call/NAME`, `/call/v2/NAME`).

    A REST call gives the inputs `/gradio_api/info` documents, in order (`/chat`: the message,
    then the optional article); the hidden ones (the chat's history) are filled in by Gradio.
    `gradio_client` fills in the defaults, a raw call does not, and a malformed body makes
    Gradio answer 500 and log a traceback. Here a body that is not JSON, or whose `data` is
    not a list (`/call/v2`: not an object of named inputs), is answered 400 with a one-line
    JSON error; an unknown endpoint 404; too many or unknown inputs 422; missing trailing
    inputs get their documented default, so `{"data": [question]}` works for `/chat` as the
    client's call with the message alone does.
    """

    def __init__(self, app: Any, endpoints: dict[str, RestEndpoint], limit: int) -> None:
        self.app, self.endpoints, self.limit = app, endpoints, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check (and complete) a REST call's body before Gradio sees it."""
        path = str(scope.get("path", "")) if scope.get("type") == "http" else ""
        route = _rest_endpoint(path) if scope.get("method") == "POST" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        name, named = route
        if name == "predict" and not named:
            # Gradio's own route for the page's unqueued events (by `fn_index`, not a name):
            # the page's calls, guarded by the origin checks like the queue's
            await self.app(scope, receive, send)
            return
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            await _json_error(send, 404, "not_found", f"no API endpoint /{name}")
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
        parameters = endpoint.parameters
        problem = (
            _named_problem(name, payload, parameters)
            if named
            else _positional_problem(name, payload, parameters)
        )
        if problem is not None:
            await _json_error(send, *problem)
            return
        if not named:
            # the documented inputs, completed with their defaults, and the hidden ones
            # (None, as Gradio's own REST call gives them) in their places
            given = iter(payload["data"] + [p.default for p in parameters[len(payload["data"]) :]])
            payload["data"] = [None if hidden else next(given) for hidden in endpoint.hidden]
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


def _positional_problem(
    name: str, payload: Any, parameters: tuple[RestParameter, ...]
) -> tuple[int, str, str] | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return 400, "malformed", 'the body must be {"data": [...]}'
    if len(data) > len(parameters):
        return (
            422,
            "invalid",
            (
                f"/{name} takes at most {len(parameters)} inputs: "
                + ", ".join(p.name for p in parameters)
            ),
        )
    missing = [p.name for p in parameters[len(data) :] if p.required]
    if missing:
        return 422, "invalid", f"/{name} needs {', '.join(missing)}"
    return None


def _named_problem(
    name: str, payload: Any, parameters: tuple[RestParameter, ...]
) -> tuple[int, str, str] | None:
    if not isinstance(payload, dict):
        return 400, "malformed", "the body must be a JSON object of named inputs"
    known = {p.name for p in parameters}
    unknown = [k for k in payload if k not in known]
    if unknown:
        return (
            422,
            "invalid",
            (
                f"/{name} has no input {unknown[0][:40]!r}; it takes "
                + ", ".join(p.name for p in parameters)
            ),
        )
    missing = [p.name for p in parameters if p.required and p.name not in payload]
    if missing:
        return 422, "invalid", f"/{name} needs {', '.join(missing)}"
    return None


def _rest_endpoint(path: str) -> tuple[str, bool] | None:
    """(endpoint name, whether its inputs are named) of a REST call's path, else None."""
    for prefix, named in (
        ("/gradio_api/call/v2/", True),
        ("/gradio_api/run/", False),
        ("/gradio_api/api/", False),
        ("/gradio_api/call/", False),
    ):
        if path.startswith(prefix):
            rest = path[len(prefix) :].strip("/")
            return (rest, named) if rest and "/" not in rest else None
    return None


async def _json_error(send: Any, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def rest_endpoints(blocks: Any) -> dict[str, RestEndpoint]:
    """Each endpoint `/gradio_api/info` documents: its documented inputs in order, and which
    of its function's inputs are hidden."""
    info = blocks.get_api_info()["named_endpoints"]
    out = {}
    for fn in blocks.fns.values():
        endpoint = info.get(f"/{fn.api_name}") if fn.api_name else None
        if endpoint is None:
            continue
        out[str(fn.api_name)] = RestEndpoint(
            parameters=tuple(
                RestParameter(
                    name=str(p["parameter_name"]),
                    default=p.get("parameter_default"),
                    required=not p.get("parameter_has_default"),
                )
                for p in endpoint["parameters"]
            ),
            hidden=tuple(bool(getattr(c, "skip_api", False)) for c in fn.inputs),
        )
    return out


class OneLineTracebacks:
    """Stands in for the `traceback` module inside Gradio's queue and routes, which print a
    whole traceback for every failed event (a malformed call from any client): the failure is
    logged as one line, with its traceback only when logging is verbose (DEBUG)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)

    @staticmethod
    def print_exc(*args: Any, **kwargs: Any) -> None:
        """Log the exception being handled: one line, or the traceback when verbose."""
        exc = sys.exc_info()[1]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("a chat event failed", exc_info=exc)
            return
        first = str(exc).strip().split("\n", 1)[0][:200] if exc is not None else ""
        log.warning("a chat event failed: %s%s", type(exc).__name__, f": {first}" if first else "")


def _quiet_gradio_tracebacks() -> None:
    import gradio.queueing
    import gradio.routes
    import gradio.utils

    for module in (gradio.queueing, gradio.routes, gradio.utils):
        if not isinstance(getattr(module, "traceback", None), OneLineTracebacks):
            setattr(module, "traceback", OneLineTracebacks())  # noqa: B010


# Names a browser may use for a chat bound to loopback (the Host header, without port).
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_NO_API_INFO = (
    b'window.gradio_api_info = {"named_endpoints": {}, "unnamed_endpoints": {}};</script>'
)


def host_and_port(value: str) -> tuple[str, int | None] | None:
    """A Host header's name (lower case, IPv6 without brackets) and port; None if malformed."""
    match = _HOST.match(value.strip())
    if match is None:
        return None
    port = match.group("port")
    return (
        (match.group("v6") or match.group("name")).lower(),
        int(port) if port is not None else None,
    )


def same_origin(origin: str, host: tuple[str, int | None]) -> bool:
    """True when an Origin header names the site the Host header names (scheme default ports
    count: `https://chat.example` and `chat.example:443` are the same)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname:
        return False  # "null" (a sandboxed frame, a file), or another scheme
    return parts.hostname.lower() == host[0] and (port or default) == (host[1] or default)


class EdgeGuard:
    """ASGI middleware in front of everything the server answers.

    - Exactly one well-formed Host header (400 otherwise); bound to loopback, only a loopback
      name (which defeats DNS rebinding). `X-Forwarded-Host` is dropped: nothing this server
      writes (the page's root, the API description) takes its address from a client.
    - A request that changes anything (any method but GET, HEAD, OPTIONS) from another site
      (a foreign `Origin`, or `Sec-Fetch-Site` other than same-origin/none) is refused with
      403: a web page the user visits cannot add an article, ask, upload or join the queue.
      A writing request to the JSON API must say `Content-Type: application/json` (415), so a
      plain form or a `text/plain` fetch, which browsers send cross-site without asking, is
      never read as JSON.
    - No response to another origin carries CORS headers (Gradio grants credentialed CORS to
      any Origin when the Host is not a local name).
    - With a password, `HEAD /` is 401 until signed in, and the login page does not embed
      the API description (which `/gradio_api/info` refuses before login).
    """

    def __init__(
        self, app: Any, loopback: bool, api_prefix: str, signed_in: Callable[[Any], bool] | None
    ) -> None:
        self.app, self.loopback, self.api_prefix = app, loopback, api_prefix
        self.signed_in = signed_in

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check the request's Host, Origin and type, then pass it on."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        raw: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        hosts = [v for k, v in raw if k == b"host"]
        host = host_and_port(hosts[0].decode("latin-1")) if len(hosts) == 1 else None
        if host is None:
            await _json_error(send, 400, "bad_host", "the request needs one valid Host header")
            return
        if self.loopback and host[0] not in LOOPBACK_HOSTS:
            await _json_error(
                send,
                400,
                "bad_host",
                "this server answers only to a loopback name (127.0.0.1, localhost, [::1])",
            )
            return
        headers = {k: v.decode("latin-1") for k, v in raw}
        origin = headers.get(b"origin")
        foreign = origin is not None and not same_origin(origin, host)
        site = headers.get(b"sec-fetch-site", "").lower()
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", ""))
        if method not in SAFE_METHODS and (foreign or site in ("cross-site", "same-site")):
            await _json_error(
                send,
                403,
                "forbidden_origin",
                "requests that change anything must come from this site",
            )
            return
        if method in ("POST", "PUT", "PATCH") and path.startswith(self.api_prefix + "/"):
            media = headers.get(b"content-type", "").split(";")[0].strip().lower()
            if media != "application/json":
                await _json_error(
                    send,
                    415,
                    "unsupported_media_type",
                    "send the body as Content-Type: application/json",
                )
                return
        scope = {**scope, "headers": [(k, v) for k, v in raw if k != b"x-forwarded-host"]}
        if foreign:
            send = _without_cors(send)
        if path == "/" and self.signed_in is not None and not self.signed_in(scope):
            if method == "HEAD":
                await _json_error(send, 401, "unauthorized", "sign in first")
                return
            if method == "GET":
                await self._login_page(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _login_page(self, scope: Any, receive: Any, send: Any) -> None:
        """Gradio's page before login, without the API description it embeds."""
        # uncompressed, so that the page can be edited on its way out
        scope = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"],
        }
        start: dict[str, Any] = {}
        body = bytearray()

        async def collect(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, collect)
        page = _API_INFO.sub(lambda _: _NO_API_INFO, bytes(body), count=1)
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(page)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": page})


def _without_cors(send: Any) -> Any:
    async def stripped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ],
            }
        await send(message)

    return stripped


def _gradio_sign_in(outer: Any) -> Callable[[Any], bool]:
    """Whether a request carries the cookie of a signed-in user of the Gradio app mounted
    in `outer` (Gradio's own check, on its own token table)."""
    from starlette.requests import cookie_parser
    from starlette.routing import Mount

    gradio_app: Any = next(r.app for r in outer.routes if isinstance(r, Mount))

    def signed_in(scope: Any) -> bool:
        cookie = next((v for k, v in scope.get("headers", []) if k == b"cookie"), b"")
        cookies = cookie_parser(cookie.decode("latin-1"))
        cookie_id = gradio_app.cookie_id
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(
            f"access-token-unsecure-{cookie_id}"
        )
        return token is not None and token in gradio_app.tokens

    return signed_in


def asgi_app(blocks: Any, settings: Settings, engine: Engine, article_id: str) -> Any:
    """The web server: the JSON API under `/api/v1` and the Gradio app (queued as settings
    say, never shared, auth when given, uploads capped, errors generic with details in the
    log, our CSS and click script), behind `EdgeGuard` and `RestGuard`."""
    import gradio as gr
    from fastapi import FastAPI

    from bot import __version__
    from bot.ui.api import PREFIX, mount_api

    _quiet_gradio_tracebacks()
    blocks.queue(
        default_concurrency_limit=settings.concurrency_limit, max_size=settings.queue_max_size
    )
    outer = FastAPI(
        title="articlebot", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    mount_api(outer, engine, settings, article_id)
    app = gr.mount_gradio_app(
        outer,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        auth=_auth(settings),
        max_file_size=settings.max_upload_bytes,
        show_error=False,
        ssr_mode=False,
        css=asset("chat.css"),
        head=f"<script>\n{asset('chat.js')}</script>",
        enable_monitoring=False,
        run_history=False,
    )
    # Gradio checks that a file given to an event was uploaded through its own route (and
    # refuses it before copying anything into its cache) only once Blocks "has launched",
    # which `launch()` sets and mounting does not: without this, any client could name a
    # server file in an event's FileData and have it read.
    blocks.has_launched = True
    rest = RestGuard(
        app,
        rest_endpoints(blocks),
        limit=max(settings.max_upload_bytes, settings.max_question_chars * 8),
    )
    return EdgeGuard(
        rest,
        loopback=is_loopback(settings.host),
        api_prefix=PREFIX,
        signed_in=_gradio_sign_in(app) if settings.auth is not None else None,
    )
