"""Fetching a linked page with httpx, bounded, and only from public addresses.

Every hop (the link and each redirect, at most `max_redirects`, followed here rather than by
httpx) is resolved first, every address the name resolves to is checked, and the connection
is then made to the checked address itself (the Host header and TLS name stay the link's), so
a name that resolves to a public address when checked and to a private one when connecting
(DNS rebinding) cannot reach inside. Loopback, private, link-local, shared, reserved and
otherwise non-global addresses are refused unless the policy allows private addresses; the
unspecified address (0.0.0.0, ::) and multicast are never a web page and are always refused.
Time-outs bound the connection and every read, a deadline bounds the whole fetch, the body
is read by bytes up to a cap, and only HTML content types are read at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import FetchError

if TYPE_CHECKING:
    import httpx

HTML_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "articlebot (+reads one article a person asked for)"

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchPolicy:
    """How a link may be fetched."""

    allow_private: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5


@dataclass(frozen=True)
class Fetched:
    """A fetched HTML page: the address it ended at, its bytes and the charset HTTP
    declared (None when it declared none)."""

    url: str
    data: bytes
    charset: str | None


DEFAULT_POLICY = FetchPolicy()


_LINK = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(ref: str) -> bool:
    """Whether an article reference is a web link (http or https)."""
    return ref[:8].lower().startswith(("http://", "https://"))


def is_link(ref: str) -> bool:
    """Whether an article reference is written as a link of any scheme (ftp://, file://,
    ...), which only `is_url`'s may be read, rather than a file's path."""
    return _LINK.match(ref) is not None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: str, allow_private: bool) -> str | None:
    """Why an address may not be fetched from, or None when it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_unspecified or ip.is_multicast:
        return "not a web server's address"
    if allow_private:
        return None
    for flag, why in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "link-local"),
        ("is_private", "a private address"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, flag):
            return why
    return None if ip.is_global else "not a public address"


def fetch_page(
    url: str, policy: FetchPolicy = DEFAULT_POLICY, resolver: Resolver = resolve
) -> Fetched:
    """The HTML page at `url`, fetched under `policy`; FetchError says in one line why
    not (code "url_refused" for what the policy refuses, "too_large" beyond the size cap,
    "fetch_failed" for time-outs, network and HTTP errors)."""
    import httpx

    timeout = httpx.Timeout(
        connect=policy.connect_timeout_s,
        read=policy.read_timeout_s,
        write=policy.read_timeout_s,
        pool=policy.connect_timeout_s,
    )
    deadline = time.monotonic() + policy.total_timeout_s
    current = url
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for hop in range(policy.max_redirects + 1):
                target = _checked(current, policy, resolver)
                with client.stream(
                    "GET", target.url, headers=target.headers, extensions=target.extensions
                ) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        if hop == policy.max_redirects:
                            raise FetchError(
                                f"{url}: more than {policy.max_redirects} redirects", "url_refused"
                            )
                        current = str(httpx.URL(current).join(location))
                        continue
                    return _read(url, current, response, policy, deadline)
    except FetchError:
        raise
    except httpx.TimeoutException:
        raise FetchError(f"{url}: timed out") from None
    except (httpx.HTTPError, OSError, UnicodeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise FetchError(f"{url}: could not fetch ({detail})") from None
    raise FetchError(f"{url}: more than {policy.max_redirects} redirects", "url_refused")


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # the link with its host replaced by the checked address
    headers: dict[str, str]
    extensions: dict[str, str]


def _checked(link: str, policy: FetchPolicy, resolver: Resolver) -> _Target:
    """The request for one hop, addressed to a checked IP of the link's host."""
    import httpx

    try:
        parsed = httpx.URL(link)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise FetchError(f"{link[:200]}: not a valid link", "url_refused") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"{link[:200]}: only http and https links can be read", "url_refused")
    if not parsed.host:
        raise FetchError(f"{link[:200]}: not a valid link (no host name)", "url_refused")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolver(host.strip("[]"), port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            f"{link[:200]}: cannot resolve {host} ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    if not addresses:
        raise FetchError(f"{link[:200]}: cannot resolve {host}")
    for address in addresses:
        why = refusal(address, policy.allow_private)
        if why is not None:
            # the setting opens private addresses only: the hint is for those it would open
            hint = (
                ""
                if policy.allow_private or refusal(address, True) is not None
                else " (set ARTICLEBOT_ALLOW_PRIVATE_URLS=true to allow private addresses)"
            )
            raise FetchError(
                f"{link[:200]}: {host} is {address}, {why}; refused{hint}", "url_refused"
            )
    netloc = parsed.netloc.decode("ascii")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return _Target(
        url=parsed.copy_with(host=addresses[0]),
        headers={
            "Host": netloc,
            "User-Agent": USER_AGENT,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
        },
        extensions=extensions,
    )


def _read(
    url: str, final: str, response: httpx.Response, policy: FetchPolicy, deadline: float
) -> Fetched:
    """The body of a final (non-redirect) response, within the policy's bounds."""
    if response.status_code >= 400:
        raise FetchError(f"{url}: the server answered HTTP {response.status_code}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in HTML_TYPES:
        raise FetchError(
            f"{url}: not a web page (content type {kind or 'missing'}); only "
            "HTML pages can be read from links",
            "url_refused",
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"{url}: the page is larger than {policy.max_bytes} bytes", "too_large")
    data = bytearray()
    for piece in response.iter_bytes():
        data += piece
        if len(data) > policy.max_bytes:
            raise FetchError(
                f"{url}: the page is larger than {policy.max_bytes} bytes", "too_large"
            )
        if time.monotonic() > deadline:
            raise FetchError(f"{url}: timed out (longer than {policy.total_timeout_s:g} s)")
    return Fetched(url=final, data=bytes(data), charset=response.charset_encoding)
