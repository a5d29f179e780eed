"""The web chat's exposed surface and its behaviour under load (docs/reliability-plan.md
rows 1, 2, 4, 26, 27 and 31), against the real app: `python app.py --port P` in a subprocess
with its own store and data dir, probed with raw HTTP and driven with `gradio_client` through
`/chat` only.

`ARTICLEBOT_TEST_WEB_CLIENTS` sets the number of concurrent users (default 50).
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.bot.ui.webapp import running_app
from tests.conftest import REPO

CLIENTS = int(os.environ.get("ARTICLEBOT_TEST_WEB_CLIENTS", "50"))
# Questions with different answers: a reply given to the wrong user shows.
QUESTIONS = (
    "Hvem er Sergej Radtsjenko?",
    "Hvilke land har lagt ned veto mot nye resolusjoner?",
    "Where did Radchenko publish his analysis?",
    "What was the Russian defence minister shown in North Korea?",
    "Hvem skal Kim Jong-un møte i Russland?",
)


@dataclass(frozen=True)
class Server:
    port: int
    url: str
    store: Path
    data: Path
    log: Path
    cache: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("websec")
    cache = tmp / "gradio-cache"
    with running_app(tmp, timeout=240, env_extra={"GRADIO_TEMP_DIR": str(cache)}) as app:
        yield Server(
            port=app.port, url=app.url, store=app.store, data=app.data_dir, log=app.log, cache=cache
        )


def _listening_addresses(port: int) -> set[str]:
    """The local addresses listening on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


def test_default_bind_is_loopback_only_and_nothing_is_shared(server: Server) -> None:
    addresses = _listening_addresses(server.port)
    assert addresses, "the app's listening socket was not found"
    assert addresses <= LOOPBACK_HEX, addresses
    log = server.log.read_text(errors="replace")
    assert "gradio.live" not in log and "share" not in log.lower()


def _get(
    server: Server,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})  # sent as is, no normalising
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_file_routes_serve_nothing_outside_gradio_cache(server: Server) -> None:
    secret_files = [
        server.store / "chroma.sqlite3",
        REPO / "index" / "data" / "article.txt",
        REPO / "pyproject.toml",
        Path("/etc/passwd"),
    ]
    assert (server.store / "chroma.sqlite3").exists()
    targets = []
    for f in secret_files:
        targets += [
            str(f),
            str(f).upper(),
            "../" * 12 + str(f).lstrip("/"),
            ("%2e%2e%2f" * 12) + str(f).lstrip("/").replace("/", "%2f"),
        ]
    targets += [
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        ".env",
        "../.env",
        str(REPO / ".env"),
        str(server.store),
        str(REPO),
    ]
    seen = {}
    for prefix in ("/gradio_api/file=", "/file=", "/GRADIO_API/file=", "/gradio_api/file%3d"):
        for target in targets:
            status = _get(server, prefix + target).status
            seen[prefix + target] = status
    allowed = {400, 403, 404, 405}
    leaks = {path: status for path, status in seen.items() if status not in allowed}
    assert not leaks, leaks
    # the route itself works: a file in Gradio's cache is served (so the refusals are real)
    cached = server.cache / "probe" / "ok.txt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("cached")
    assert _get(server, f"/gradio_api/file={cached}").status == 200


def _cross_origin(server: Server, host: str) -> None:
    body = b'{"data": ["Hvem er Sergej Radtsjenko?"], "fn_index": 0, "session_hash": "abc"}'
    for method in ("POST", "OPTIONS"):
        headers = {
            "Origin": "https://evil.example",
            "Host": host,
            "Content-Type": "application/json",
            "Access-Control-Request-Method": "POST",
        }
        response = _get(
            server,
            "/gradio_api/queue/join",
            headers=headers,
            method=method,
            body=body if method == "POST" else None,
        )
        allow_origin = response.getheader("Access-Control-Allow-Origin")
        credentials = response.getheader("Access-Control-Allow-Credentials")
        assert not (
            allow_origin in ("https://evil.example", "*") and (credentials or "").lower() == "true"
        ), (host, method)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "localhost:{port}", "127.0.0.1:{port}"])
def test_cross_origin_requests_get_no_credentials(server: Server, host: str) -> None:
    _cross_origin(server, host.format(port=server.port))


def test_spoofed_host_header_gets_no_credentials(server: Server) -> None:
    """Gradio reflects any Origin with credentials for a Host it does not know as local; the
    loopback-bound app refuses foreign Host headers (which also stops DNS rebinding)."""
    _cross_origin(server, "evil.example")
    assert _get(server, "/", headers={"Host": "evil.example"}).status == 400
    assert _get(server, "/", headers={"Host": f"localhost:{server.port}"}).status == 200


def _client(server: Server) -> Any:
    from gradio_client import Client

    # a generous HTTP timeout: 50 clients fetching the config at once on 2 busy cores
    return Client(
        server.url,
        verbose=False,
        httpx_kwargs={"timeout": 120},
        download_files=False,
        analytics_enabled=False,
    )


def test_concurrent_users_each_get_their_own_answer(server: Server) -> None:
    """Row 26: CLIENTS users at once, each with its own question; p95 latency is printed."""
    one = _client(server)
    expected = {q: one.predict(q, api_name="/chat") for q in QUESTIONS}
    assert len(set(expected.values())) >= 3  # different answers: a mix-up would show

    with ThreadPoolExecutor(max_workers=8) as pool:  # connect first; then ask all at once
        clients = list(pool.map(lambda _: _client(server), range(CLIENTS)))

    def user(i: int) -> tuple[str, str, float]:
        client = clients[i]
        question = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.monotonic()
        reply = client.predict(question, api_name="/chat")
        return question, str(reply), time.monotonic() - t0

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(user, range(CLIENTS)))
    wall = time.monotonic() - t0
    latencies = sorted(r[2] for r in results)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"\n{CLIENTS} concurrent users: p50 {statistics.median(latencies):.2f} s, "
        f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s, wall {wall:.1f} s"
    )
    wrong = [(q, r[:80]) for q, r, _ in results if r != expected[q]]
    assert not wrong, wrong
    assert one.predict(QUESTIONS[0], api_name="/chat") == expected[QUESTIONS[0]]


@pytest.mark.parametrize("size", [10_000, 100_000, 1_000_000])
def test_oversized_question_via_the_api_is_refused_and_the_next_one_works(
    server: Server, size: int
) -> None:
    client = _client(server)
    reply = client.predict("Hvem " + "x" * size, api_name="/chat")
    assert "too long" in reply or "for langt" in reply
    assert "Kilder / Sources" in client.predict(QUESTIONS[0], api_name="/chat")


def _upload_fn_index(server: Server) -> int:
    """The fn_index of the article-upload event, read from the app's config."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/config")
    config = json.loads(conn.getresponse().read())
    conn.close()
    upload_ids = {
        c["id"]
        for c in config["components"]
        if c.get("props", {}).get("elem_id") == "article-upload"
    }
    for i, dep in enumerate(config["dependencies"]):
        if any(t[0] in upload_ids and t[1] == "upload" for t in dep["targets"]):
            return int(dep.get("id", i))
    raise AssertionError("no upload event in the config")


def _queue_call(server: Server, fn_index: int, data: list[Any]) -> str:
    """Join the queue with raw data (what a hostile client sends) and read the whole stream."""
    import json
    import uuid

    session = uuid.uuid4().hex
    body = json.dumps(
        {
            "data": data,
            "fn_index": fn_index,
            "session_hash": session,
            "event_data": None,
            "trigger_id": None,
        }
    ).encode()
    joined = _get(
        server,
        "/gradio_api/queue/join",
        method="POST",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert joined.status == 200, joined.status
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", f"/gradio_api/queue/data?session_hash={session}")
    stream = conn.getresponse().read().decode("utf-8", errors="replace")
    conn.close()
    assert "process_completed" in stream, stream[-500:]
    return stream


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("name", ["article.txt", "notes.md", "hostname"])
def test_upload_event_never_opens_a_path_sent_by_the_client(
    server: Server, tmp_path: Path, name: str
) -> None:
    """A client that calls the upload event over plain HTTP with a `FileData` naming a file
    on the server gets an error: the file is not read, indexed, shown, listed or copied."""
    import uuid

    canary = f"KANARI{uuid.uuid4().hex}"
    secret = tmp_path / "outside" / name
    secret.parent.mkdir()
    secret.write_text(
        f"Hemmelig overskrift {canary}\n\nDette er en hemmelig setning om "
        f"{canary}. Den skal aldri vises.\n",
        encoding="utf-8",
    )
    payload = {"path": str(secret), "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    stream = _queue_call(server, _upload_fn_index(server), [payload, "nb"])
    assert canary not in stream
    for root in (server.cache, server.data, server.store):
        if root.exists():
            assert not _files_holding(root, canary.encode()), root
    # and the articles every visitor is offered do not include it
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/config")
    assert canary not in conn.getresponse().read().decode("utf-8", errors="replace")
    conn.close()


def test_nothing_is_served_that_nobody_asked_for(server: Server) -> None:
    """Gradio's monitoring dashboard (request counts and latencies) and run history are off."""
    for path in ("/monitoring", "/monitoring/summary", "/gradio_api/runs"):
        assert _get(server, path).status in (403, 404), path


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"data": 5}', 400),
        (b"[1, 2]", 400),
        (b'{"data": ["a", "article", "x", "y", "z"]}', 422),
    ],
)
def test_malformed_rest_calls_get_4xx_and_no_traceback(
    server: Server, body: bytes, status: int
) -> None:
    before = server.log.stat().st_size  # other tests of this module share the server's log
    for route in ("/gradio_api/run/chat", "/gradio_api/call/chat"):
        response = _get(
            server, route, method="POST", body=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == status, (route, response.status)
    with server.log.open("rb") as log:
        log.seek(before)
        assert b"Traceback" not in log.read()


def test_a_rest_call_with_the_message_alone_is_answered(server: Server) -> None:
    """`{"data": [message]}`: the other inputs (the article) take their defaults."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        "/gradio_api/run/chat",
        body=json.dumps({"data": ["Hvem er Sergej Radtsjenko?"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    assert response.status == 200, payload
    assert "Kilder / Sources" in payload["data"][0]


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "articlebot-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{name}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_another_site_cannot_upload_or_join_the_queue(
    server: Server, headers: dict[str, str]
) -> None:
    """A foreign page's form (multipart needs no preflight) fills no upload cache and
    starts no event: 403, nothing written."""
    import uuid

    canary = f"KANARI{uuid.uuid4().hex}".encode()
    body, content_type = _multipart("forged.txt", b"Forfalsket " + canary)
    upload = _get(
        server,
        "/gradio_api/upload",
        method="POST",
        body=body,
        headers={**headers, "Content-Type": content_type},
    )
    assert upload.status == 403
    assert not server.cache.exists() or not _files_holding(server.cache, canary)
    join = _get(
        server,
        "/gradio_api/queue/join",
        method="POST",
        body=b'{"data": ["Hvem?", [], "article"], "fn_index": 0, "session_hash": "forged"}',
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert join.status == 403
    same = _get(
        server,
        "/gradio_api/upload",
        method="POST",
        body=body,
        headers={"Origin": server.url.rstrip("/"), "Content-Type": content_type},
    )
    assert same.status == 200  # the chat's own page still uploads
    assert _files_holding(server.cache, canary)


# -- exposed: `serve --host 0.0.0.0 --auth U:P`, reached with a public name ---------------------


@dataclass(frozen=True)
class Exposed:
    port: int
    host: str  # the public name a browser would send as Host
    cookie: str  # a signed-in user's session cookie


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposed]:
    import urllib.parse

    tmp = tmp_path_factory.mktemp("exposed")
    with running_app(tmp, "--host", "0.0.0.0", "--auth", "ola:hemmelig", timeout=240) as app:
        host = f"chat.example.org:{app.port}"
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
        conn.request(
            "POST",
            "/login",
            body=urllib.parse.urlencode({"username": "ola", "password": "hemmelig"}).encode(),
            headers={"Host": host, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200, response.status
        cookie = "; ".join(
            v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie"
        )
        assert "access-token" in cookie
        yield Exposed(port=app.port, host=host, cookie=cookie)


def _exposed(
    exposed: Exposed,
    path: str,
    method: str = "GET",
    signed_in: bool = False,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", exposed.port, timeout=30)
    sent = {
        "Host": exposed.host,
        **({"Cookie": exposed.cookie} if signed_in else {}),
        **(headers or {}),
    }
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


@pytest.mark.parametrize("signed_in", [False, True])
def test_exposed_a_foreign_origin_never_gets_credentialed_cors(
    exposed: Exposed, signed_in: bool
) -> None:
    evil = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Content-Type": "application/json",
    }
    for method, path in (
        ("GET", "/config"),
        ("GET", "/gradio_api/info"),
        ("OPTIONS", "/gradio_api/queue/join"),
        ("POST", "/gradio_api/queue/join"),
        ("GET", "/api/v1/articles"),
    ):
        response, _ = _exposed(
            exposed,
            path,
            method,
            signed_in,
            evil,
            b'{"data": ["x"], "fn_index": 0}' if method == "POST" else None,
        )
        assert response.getheader("Access-Control-Allow-Origin") is None, (method, path)
        assert response.getheader("Access-Control-Allow-Credentials") is None, (method, path)


def test_exposed_nothing_of_the_app_before_login(exposed: Exposed) -> None:
    head, _ = _exposed(exposed, "/", "HEAD")
    assert head.status == 401
    page, body = _exposed(exposed, "/")
    assert page.status == 200  # the login page
    assert b'"/chat"' not in body and b"article_id" not in body
    info, _ = _exposed(exposed, "/gradio_api/info")
    assert info.status == 401
    # signed in, the page and its API description are there
    head, _ = _exposed(exposed, "/", "HEAD", signed_in=True)
    assert head.status == 200
    page, body = _exposed(exposed, "/", signed_in=True)
    assert page.status == 200 and b'"/chat"' in body


def test_exposed_two_host_headers_are_refused(exposed: Exposed) -> None:
    with socket.create_connection(("127.0.0.1", exposed.port), timeout=30) as sock:
        sock.sendall(
            f"GET /gradio_api/info HTTP/1.1\r\nHost: {exposed.host}\r\n"
            f"Host: evil.example\r\nCookie: {exposed.cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.split(b"\r\n", 1)[0].split()[1] == b"400", reply[:200]


def test_exposed_forwarded_host_does_not_move_the_apps_root(exposed: Exposed) -> None:
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    for path in ("/config", "/", "/gradio_api/info"):
        response, body = _exposed(exposed, path, signed_in=True, headers=forged)
        assert response.status == 200, path
        assert b"evil.example" not in body, path


def _second_article(server: Server) -> str:
    import json

    text = (
        "Fergen mellom Bodø og Værøy får nytt batteri i 2027. Rederiet Torghatten sier "
        "at batteriet veier 40 tonn og lades på kaia i Bodø."
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request(
        "POST",
        "/api/v1/articles",
        body=json.dumps({"text": text, "title": "Batteriferje"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    entry = json.loads(response.read())
    conn.close()
    assert response.status == 201, entry
    return str(entry["id"])


def _rest_chat(server: Server, path: str, payload: Any) -> str:
    """A REST call of `/chat` (`/call...` returns an event id whose result is a stream)."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request(
        "POST",
        path,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    reply = json.loads(response.read())
    assert response.status == 200, reply
    if "event_id" not in reply:
        conn.close()
        return str(reply["data"][0])
    conn.request("GET", f"{path.rstrip('/')}/{reply['event_id']}")
    stream = conn.getresponse().read().decode("utf-8")
    conn.close()
    datas = [line[len("data: ") :] for line in stream.splitlines() if line.startswith("data: ")]
    return str(json.loads(datas[-1])[0])


QUESTION_B = "Hvor mye veier batteriet?"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/gradio_api/call/chat", "positional"),
        ("/gradio_api/run/chat", "positional"),
        ("/gradio_api/call/v2/chat", "named"),
    ],
)
def test_the_documented_rest_shape_answers_about_the_named_article(
    server: Server, path: str, shape: str
) -> None:
    """`/gradio_api/info` documents /chat as (message, article_id): a call in that shape is
    answered from that article, not the default one."""
    import json

    other = _second_article(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/gradio_api/info")
    parameters = json.loads(conn.getresponse().read())["named_endpoints"]["/chat"]["parameters"]
    conn.close()
    assert [p["parameter_name"] for p in parameters] == ["message", "article_id"]
    payload: Any = (
        {"data": [QUESTION_B, other]}
        if shape == "positional"
        else {"message": QUESTION_B, "article_id": other}
    )
    reply = _rest_chat(server, path, payload)
    assert f"({other}:" in reply and "(article:" not in reply, reply[-300:]
    assert "40 tonn" in reply
    # the message alone: the default article
    alone = _rest_chat(
        server,
        path,
        {"data": [QUESTIONS[0]]} if shape == "positional" else {"message": QUESTIONS[0]},
    )
    assert "(article:" in alone


def test_the_client_with_the_message_alone_or_with_the_article(server: Server) -> None:
    other = _second_article(server)
    client = _client(server)
    assert "(article:" in client.predict(QUESTIONS[0], api_name="/chat")
    assert f"({other}:" in client.predict(QUESTION_B, other, api_name="/chat")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/gradio_api/call/v2/chat", b'{"message": "Hvem?", "nope": 1}', 422),
        ("/gradio_api/call/v2/chat", b"[1]", 400),
        ("/gradio_api/call/v2/chat", b'{"message": "' + b"x" * 3_000_000 + b'"}', 413),
        ("/gradio_api/call/v2/upload", b'{"path": "/etc/passwd"}', 404),
        ("/gradio_api/call/upload", b'{"data": [null, "nb"]}', 404),
        ("/gradio_api/api/chat", b'{"data": 5}', 400),
    ],
)
def test_every_rest_route_is_guarded(server: Server, path: str, body: bytes, status: int) -> None:
    before = server.log.stat().st_size
    response = _get(
        server, path, method="POST", body=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == status, (path, response.status)
    with server.log.open("rb") as log:
        log.seek(before)
        assert b"Traceback" not in log.read()


def test_urls_and_addresses_in_an_article_are_no_links_in_the_chat(server: Server) -> None:
    """GFM links bare URLs, `www.` names and e-mail addresses; the chat's Markdown leaves
    nothing it would link, and shows the article's words as they are."""
    import html
    import json
    import re

    sentence = (
        "Tipsene sendes til tips@avisa.no eller via https://evil.example/skjema, "
        "og mer står på www.avisa.no/tips."
    )
    text = f"Tips til avisa. {sentence} Redaksjonen leser alle tips hver dag."
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request(
        "POST",
        "/api/v1/articles",
        body=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    entry = json.loads(response.read())
    conn.close()
    assert response.status == 201, entry
    reply = _client(server).predict("Hvor sendes tipsene?", entry["id"], api_name="/chat")
    assert sentence in html.unescape(reply)
    assert not re.search(
        r"(?i)(?:https?|ftp)://|www\.|(?:mailto|xmpp):|[a-z0-9]@[a-z0-9]", reply
    ), reply


def test_a_failed_event_is_one_line_in_the_log(server: Server) -> None:
    """An event call Gradio cannot even start (a number where a file belongs) is logged as
    one line, not a traceback."""
    before = server.log.stat().st_size
    _queue_call(server, _upload_fn_index(server), [5, "nb"])
    with server.log.open("rb") as log:
        log.seek(before)
        added = log.read().decode("utf-8", errors="replace")
    assert "Traceback" not in added, added[-2000:]
    assert "a chat event failed" in added
