"""Links fetched from a real HTTP server on loopback: redirects (at most five), time-outs,
the size cap, content types, and the refusal of loopback and private addresses unless they
are allowed, checked after resolution and at every redirect."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.errors import FetchError
from index.document import Limits, load_article
from index.fetch import FetchPolicy, fetch_page, refusal

PAGE = (Path(__file__).parent / "fixtures" / "article.html").read_bytes()
OPEN = FetchPolicy(
    allow_private=True,
    connect_timeout_s=2,
    read_timeout_s=0.5,
    total_timeout_s=5,
    max_bytes=1_000_000,
)


class Server:
    """A loopback HTTP server whose routes a test can count."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.release = threading.Event()  # set at the end: a slow handler stops waiting
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                owner.hits.append(self.path)
                owner.route(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/article" if n == 0 else f"/hop/{n - 1}"
            self._send(h, 302, b"", "text/html", {"Location": target})
        elif path == "/article":
            self._send(h, 200, PAGE, "text/html; charset=utf-8")
        elif path == "/slow":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.end_headers()
            self.release.wait(30)
        elif path == "/big":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")  # no length: read by bytes
            h.end_headers()
            with contextlib.suppress(OSError):  # the client hangs up at its cap
                h.wfile.write(b"<html><body>" + b"<p>" + b"x" * 2_000_000)
        elif path == "/declared-big":
            self._send(
                h,
                200,
                b"<p>small</p>",
                "text/html",
                {"Content-Length-Override": ""},
                length=50_000_000,
            )
        elif path == "/json":
            self._send(h, 200, b'{"a": 1}', "application/json")
        elif path == "/pdf":
            self._send(h, 200, b"%PDF-1.4", "application/pdf")
        elif path == "/to-zero":
            self._send(h, 302, b"", "text/html", {"Location": "http://0.0.0.0:1/x"})
        elif path == "/to-loopback":
            self._send(h, 302, b"", "text/html", {"Location": f"{self.url}/article"})
        elif path == "/missing":
            self._send(h, 404, b"not here", "text/html")
        else:
            self._send(h, 500, b"", "text/plain")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        kind: str,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(length if length is not None else len(body)))
        for k, v in (headers or {}).items():
            if k != "Content-Length-Override":
                h.send_header(k, v)
        h.end_headers()
        with contextlib.suppress(OSError):
            h.wfile.write(body)


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.release.set()
        s.httpd.shutdown()
        s.httpd.server_close()


def test_a_link_is_fetched_and_its_article_read(server: Server) -> None:
    article = load_article(f"{server.url}/article", "linked", Limits(fetch=OPEN))
    assert article.source == f"{server.url}/article"
    assert article.byline == "Kari Nordmann" and article.published == "2023-09-06"
    assert "høy grad av desperasjon i Kreml" in article.text


def test_five_redirects_are_followed_and_a_sixth_refused(server: Server) -> None:
    assert fetch_page(f"{server.url}/hop/4", OPEN).url == f"{server.url}/article"
    server.hits.clear()
    with pytest.raises(FetchError, match="more than 5 redirects") as err:
        fetch_page(f"{server.url}/hop/5", OPEN)
    assert err.value.code == "url_refused"
    assert len(server.hits) == 6  # the link and five redirects; the sixth is not followed


def test_a_slow_server_times_out(server: Server) -> None:
    with pytest.raises(FetchError, match="timed out"):
        fetch_page(f"{server.url}/slow", OPEN)


def test_a_body_beyond_the_cap_is_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="larger than 1000000 bytes") as err:
        fetch_page(f"{server.url}/big", OPEN)
    assert err.value.code == "too_large"
    with pytest.raises(FetchError, match="larger than"):
        fetch_page(f"{server.url}/declared-big", OPEN)


@pytest.mark.parametrize("path,kind", [("/json", "application/json"), ("/pdf", "application/pdf")])
def test_only_html_is_read(server: Server, path: str, kind: str) -> None:
    with pytest.raises(FetchError, match=f"content type {kind}"):
        fetch_page(f"{server.url}{path}", OPEN)


def test_an_http_error_is_one_line(server: Server) -> None:
    with pytest.raises(FetchError, match="answered HTTP 404"):
        fetch_page(f"{server.url}/missing", OPEN)


def test_loopback_is_refused_by_default_before_any_request(server: Server) -> None:
    shut = FetchPolicy(allow_private=False)
    for link in (f"{server.url}/article", f"http://localhost:{server.url.rsplit(':', 1)[1]}/"):
        with pytest.raises(FetchError, match="loopback address; refused") as err:
            fetch_page(link, shut)
        assert err.value.code == "url_refused"
        assert "ARTICLEBOT_ALLOW_PRIVATE_URLS=true" in str(err.value)  # it would open these
    assert server.hits == []


def test_a_redirect_is_checked_like_the_link(server: Server) -> None:
    # even with private addresses allowed, 0.0.0.0 is never a page: the hop is refused
    with pytest.raises(FetchError, match=re.escape("0.0.0.0, not a web server's address")) as err:
        fetch_page(f"{server.url}/to-zero", OPEN)
    assert server.hits == ["/to-zero"]
    assert "ALLOW_PRIVATE_URLS" not in str(err.value)  # no setting opens 0.0.0.0


def test_every_hop_is_resolved_checked_and_connected_to_as_checked(server: Server) -> None:
    # names that exist only in this resolver: httpx never looks a name up itself, it is
    # sent to the address that was checked (so DNS cannot change its answer in between)
    port = int(server.url.rsplit(":", 1)[1])
    names = {"news.test": ["127.0.0.1"], "cdn.test": ["224.0.0.9"]}
    calls: list[str] = []

    def resolver(host: str, _: int) -> list[str]:
        calls.append(host)
        return names[host]

    server.route = lambda h: (
        Server._send(  # type: ignore[method-assign]
            h, 302, b"", "text/html", {"Location": f"http://cdn.test:{port}/article"}
        )
        if h.path == "/first"
        else Server._send(h, 200, PAGE, "text/html")
    )
    with pytest.raises(FetchError, match=re.escape("cdn.test is 224.0.0.9, not a web server")):
        fetch_page(f"http://news.test:{port}/first", OPEN, resolver=resolver)
    assert calls == ["news.test", "cdn.test"] and server.hits == ["/first"]
    names["cdn.test"] = ["127.0.0.1"]
    assert fetch_page(f"http://news.test:{port}/first", OPEN, resolver=resolver).data == PAGE


def test_a_redirect_to_loopback_is_refused_by_default(server: Server) -> None:
    # allowed for the local server, the redirect to 127.0.0.1 is followed; with private
    # addresses refused (the default) nothing on loopback is ever asked
    assert fetch_page(f"{server.url}/to-loopback", OPEN).data == PAGE
    server.hits.clear()
    with pytest.raises(FetchError, match=re.escape("127.0.0.1, a loopback address; refused")):
        fetch_page(f"{server.url}/to-loopback", FetchPolicy())
    assert server.hits == []


def test_every_address_a_name_resolves_to_is_checked(server: Server) -> None:
    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]  # one public, one private: refused

    with pytest.raises(FetchError, match=re.escape("10.0.0.7, a private address")):
        fetch_page("http://news.example/a", FetchPolicy(), resolver=mixed)


@pytest.mark.parametrize(
    "address,why",
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.10", "a private address"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "not a public address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("224.0.0.1", "not a web server's address"),
        ("0.0.0.0", "not a web server's address"),
        ("240.0.0.1", "a private address"),
        ("93.184.216.34", None),
        ("2606:4700::1", None),
    ],
)
def test_address_checks(address: str, why: str | None) -> None:
    assert refusal(address, allow_private=False) == why


def test_only_http_links(server: Server) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        fetch_page("ftp://example.org/a", OPEN)


@pytest.mark.parametrize("link", ["https://", "http:///nyheter/artikkel"])
def test_a_link_without_a_host_says_so(link: str) -> None:
    with pytest.raises(FetchError, match=re.escape(f"{link}: not a valid link (no host name)")):
        fetch_page(link, OPEN)
