"""URL fetching: address classification and URL refusals need no network; real fetches go to an HTTP
server in a subprocess on 127.0.0.1. Names such as ``images.test`` reach it only through injected
resolvers, and every refusal test uses a client that fails the test if it is ever asked to send."""

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

import cv2
import httpx
import numpy as np
import pytest

from gateway.inputs import InputError
from gateway.url_fetch import (
    UrlFetchSettings,
    address_category,
    fetch_image,
    is_address_allowed,
    is_metadata_address,
    parse_fetch_url,
    pinned_request,
)

LOOPBACK = ipaddress.ip_address("127.0.0.1")
PRIVATE_OK = UrlFetchSettings(allow_private=True, total_timeout_s=5.0)

# Served from a subprocess so that slow and endless responses run beside the test, not inside it.
SERVER_SOURCE = r"""
import gzip, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PNG = open(sys.argv[1], "rb").read()
SEEN = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="image/png", headers=()):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = getattr(self, "route_" + url.path.strip("/").replace("-", "_"), None)
        if route is None:
            return self.reply(404, b"not found", "text/plain")
        route(query)

    def route_png(self, query):
        SEEN.append(dict(self.headers))
        self.reply(200, PNG, query.get("type", "image/png"))

    def route_untyped(self, query):
        self.reply(200, PNG, None)

    def route_html(self, query):
        self.reply(200, b"<html><body>not an image</body></html>", "text/html; charset=utf-8")

    def route_redirect(self, query):
        self.reply(int(query.get("status", 302)), b"", None, [("Location", query["to"])])

    def route_chain(self, query):
        hops = int(query["hops"])
        if hops == 0:
            return self.route_png(query)
        self.reply(302, b"", None, [("Location", f"chain?hops={hops - 1}")])

    def route_declared_big(self, query):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(PNG)

    def route_endless(self, query):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        chunk = bytes(65536)
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            pass

    def route_stall(self, query):
        time.sleep(30)

    def route_trickle(self, query):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        try:
            for _ in range(300):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def route_gzip(self, query):
        self.reply(200, gzip.compress(PNG), "image/png", [("Content-Encoding", "gzip")])

    def route_seen(self, query):
        self.reply(200, json.dumps(SEEN).encode(), "application/json")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Server(NamedTuple):
    port: int
    png: bytes

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    def seen_headers(self) -> list[dict[str, str]]:
        with httpx.Client(trust_env=False) as client:
            return json.loads(client.get(self.url("seen")).content)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    ok, buffer = cv2.imencode(".png", np.full((16, 24, 3), 90, dtype=np.uint8))
    assert ok
    png_path = tmp_path_factory.mktemp("url_fetch") / "image.png"
    png_path.write_bytes(buffer.tobytes())
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SOURCE, str(png_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # printed once the socket is bound
        yield Server(port, png_path.read_bytes())
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(url: str, settings: UrlFetchSettings, **kwargs) -> bytes:
    return asyncio.run(fetch_image(url, settings, **kwargs))


def fetch_error(url: str, settings: UrlFetchSettings, **kwargs) -> InputError:
    with pytest.raises(InputError) as error:
        fetch(url, settings, **kwargs)
    return error.value


def resolver_for(table: dict[str, list[str]], calls: list[str] | None = None):
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return table[host]

    return resolve


def only_loopback_one(ip) -> bool:
    """Stands in for 'public' in fetch tests: the test server's address passes, nothing else does."""
    return ip == LOOPBACK


class LoopbackOnly(httpx.AsyncBaseTransport):
    """Sends only to 127.0.0.1 and fails the test otherwise, so that a regression in pinning or in
    redirect vetting shows up as a failure here instead of as traffic leaving the machine."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "127.0.0.1", f"a request left loopback: {request.url}"
        self.sent.append(request.url)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def loopback_transport() -> LoopbackOnly:
    return LoopbackOnly()


@pytest.fixture
def loopback_client(loopback_transport: LoopbackOnly) -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=loopback_transport, trust_env=False)
    yield client
    asyncio.run(client.aclose())


@pytest.fixture
def no_send_client() -> Iterator[httpx.AsyncClient]:
    """A client that fails the test if a request reaches it: refusals must happen before sending."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a refused url was sent: {request.url}")

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    yield client
    asyncio.run(client.aclose())


# Address classification (no connection is ever made to these)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("192.0.2.10", "private"),  # documentation range
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("93.184.216.34", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_address_category(address: str, category: str | None) -> None:
    assert address_category(ipaddress.ip_address(address)) == category


def test_allow_private_lets_every_address_through_the_policy() -> None:
    ip = ipaddress.ip_address("10.0.0.1")
    assert not is_address_allowed(ip)
    assert is_address_allowed(ip, allow_private=True)
    assert is_address_allowed(ipaddress.ip_address("93.184.216.34"))


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_metadata_addresses(address: str) -> None:
    assert is_metadata_address(ipaddress.ip_address(address))


# URL refusals: all before anything is sent


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://files.example/a.png", "scheme 'ftp'"),
        ("gopher://old.example/", "scheme 'gopher'"),
        ("javascript:alert(1)", "scheme"),
        ("//images.example/a.png", "scheme"),
        ("http://user:secret@images.example/a.png", "credentials"),
        ("http://user@images.example/a.png", "credentials"),
        ("http:///a.png", "no host"),
        ("http://[::1/a.png", "not a valid url"),
    ],
)
def test_malformed_urls_are_400(url: str, words: str) -> None:
    with pytest.raises(InputError) as error:
        parse_fetch_url(url, UrlFetchSettings())
    assert error.value.status == 400
    assert words in error.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://[::1]:8080/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.png",
        "http://0.0.0.0/",
    ],
)
def test_private_literal_addresses_are_400(url: str, no_send_client: httpx.AsyncClient) -> None:
    error = fetch_error(url, UrlFetchSettings(), client=no_send_client, resolver=resolver_for({}))
    assert error.status == 400
    assert error.kind == "url_refused"


def test_public_looking_name_resolving_to_loopback_is_400(no_send_client: httpx.AsyncClient) -> None:
    resolver = resolver_for({"images.example": ["127.0.0.1"]})
    error = fetch_error(
        "https://images.example/a.png", UrlFetchSettings(), client=no_send_client, resolver=resolver
    )
    assert error.status == 400
    assert "non-public" in error.message
    assert "127.0.0.1" not in error.message  # internal DNS is not echoed


def test_one_private_address_among_public_ones_is_400(no_send_client: httpx.AsyncClient) -> None:
    resolver = resolver_for({"images.example": ["93.184.216.34", "10.0.0.5"]})
    error = fetch_error(
        "http://images.example/a.png", UrlFetchSettings(), client=no_send_client, resolver=resolver
    )
    assert error.status == 400


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://metadata.google.internal./computeMetadata/v1/"]
)
def test_metadata_is_refused_even_with_allow_private(url: str, no_send_client: httpx.AsyncClient) -> None:
    calls: list[str] = []
    resolver = resolver_for({"metadata.google.internal": ["169.254.169.254"]}, calls)
    error = fetch_error(url, PRIVATE_OK, client=no_send_client, resolver=resolver)
    assert error.status == 400
    assert "metadata" in error.message
    assert calls == []  # refused by name, before any lookup


def test_unresolvable_host_is_422(no_send_client: httpx.AsyncClient) -> None:
    error = fetch_error(
        "http://nowhere.test/a.png", UrlFetchSettings(), client=no_send_client, resolver=resolver_for({})
    )
    assert error.status == 422
    assert "does not resolve" in error.message


# Pinning


def test_pinned_request_names_the_original_host() -> None:
    url = httpx.URL("https://images.example:8443/a.png?x=1")
    pinned = pinned_request(url, ipaddress.ip_address("93.184.216.34"))
    assert str(pinned.url) == "https://93.184.216.34:8443/a.png?x=1"
    assert pinned.headers == {"Host": "images.example:8443"}
    assert pinned.extensions == {"sni_hostname": "images.example"}


def test_pinned_request_ipv6_and_default_port() -> None:
    pinned = pinned_request(httpx.URL("http://images.example/a.png"), ipaddress.ip_address("2001:db8::7"))
    assert str(pinned.url) == "http://[2001:db8::7]/a.png"
    assert pinned.headers == {"Host": "images.example"}
    assert pinned.extensions == {}  # no SNI over plain http


def test_pinned_request_for_an_ip_literal_sends_no_sni() -> None:
    pinned = pinned_request(httpx.URL("https://93.184.216.34/a.png"), ipaddress.ip_address("93.184.216.34"))
    assert pinned.extensions == {}


# Real fetches from the loopback server


def test_png_is_fetched(server: Server) -> None:
    assert fetch(server.url("png"), PRIVATE_OK) == server.png


@pytest.mark.parametrize("path", ["untyped", "png?type=application/octet-stream", "png?type=image/webp"])
def test_missing_or_generic_content_types_pass(server: Server, path: str) -> None:
    assert fetch(server.url(path), PRIVATE_OK) == server.png


def test_connection_goes_to_the_vetted_address_with_the_original_host(
    server: Server, loopback_client: httpx.AsyncClient
) -> None:
    calls: list[str] = []
    # A rebinding resolver: a second lookup would answer a private address. There must be none, and
    # the name is not resolvable by the system, so success means the request went to the pinned IP.
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    url = server.url("png", host="images.test")
    settings = UrlFetchSettings()
    fetched = fetch(url, settings, client=loopback_client, resolver=rebinding, is_allowed=only_loopback_one)
    assert fetched == server.png
    assert calls == ["images.test"]
    headers = {k.lower(): v for k, v in server.seen_headers()[-1].items()}
    assert headers["host"] == f"images.test:{server.port}"
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"] == UrlFetchSettings().user_agent


def test_a_shared_client_can_be_passed(server: Server) -> None:
    async def twice() -> list[bytes]:
        async with httpx.AsyncClient(trust_env=False) as client:
            return [await fetch_image(server.url("png"), PRIVATE_OK, client=client) for _ in range(2)]

    assert asyncio.run(twice()) == [server.png, server.png]


def test_html_is_415(server: Server) -> None:
    error = fetch_error(server.url("html"), PRIVATE_OK)
    assert error.status == 415
    assert "text/html" in error.message


def test_http_error_status_is_422(server: Server) -> None:
    error = fetch_error(server.url("missing"), PRIVATE_OK)
    assert error.status == 422
    assert "404" in error.message


def test_encoded_body_is_422(server: Server) -> None:
    error = fetch_error(server.url("gzip"), PRIVATE_OK)
    assert error.status == 422
    assert "gzip" in error.message


def test_declared_oversize_body_is_413(server: Server) -> None:
    error = fetch_error(server.url("declared-big"), PRIVATE_OK)
    assert error.status == 413


def test_endless_body_is_cut_at_the_limit(server: Server) -> None:
    # No Content-Length: only counting while reading can stop this. A reader that did not stop
    # would end at the total timeout (422), not with a 413.
    settings = UrlFetchSettings(allow_private=True, max_bytes=1_000_000, total_timeout_s=20.0)
    start = time.perf_counter()
    error = fetch_error(server.url("endless"), settings)
    assert error.status == 413
    assert "1000000" in error.message
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("path", ["stall", "trickle"])
def test_slow_server_times_out_as_422(server: Server, path: str) -> None:
    # "trickle" sends a byte every 0.1 s: no single read is slow, only the whole is.
    settings = UrlFetchSettings(allow_private=True, total_timeout_s=0.5)
    start = time.perf_counter()
    error = fetch_error(server.url(path), settings)
    assert time.perf_counter() - start < 2.0
    assert error.status == 422
    assert "timed out" in error.message


def test_closed_port_is_422() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/a.png", PRIVATE_OK)
    assert error.status == 422


@pytest.mark.parametrize(("hops", "status"), [(3, None), (4, 400)])
def test_redirect_limit(server: Server, hops: int, status: int | None) -> None:
    url = server.url(f"chain?hops={hops}")
    settings = UrlFetchSettings(allow_private=True, max_redirects=3)
    if status is None:
        assert fetch(url, settings) == server.png
    else:
        error = fetch_error(url, settings)
        assert error.status == status
        assert "redirects" in error.message


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_an_allowed_host_is_followed(
    server: Server, status: int, loopback_client: httpx.AsyncClient, loopback_transport: LoopbackOnly
) -> None:
    resolver = resolver_for({"images.test": ["127.0.0.1"], "cdn.test": ["127.0.0.1"]})
    target = server.url("png", host="cdn.test")
    url = server.url(f"redirect?status={status}&to={target}", host="images.test")
    fetched = fetch(
        url, UrlFetchSettings(), client=loopback_client, resolver=resolver, is_allowed=only_loopback_one
    )
    assert fetched == server.png
    assert len(loopback_transport.sent) == 2


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:{port}/png",
        "http://internal.test:{port}/png",
        "http://metadata.google.internal/",
        "file:///etc/passwd",
        "http://user:pw@images.test:{port}/png",
    ],
)
def test_redirect_to_a_refused_url_is_400(
    server: Server, target: str, loopback_client: httpx.AsyncClient, loopback_transport: LoopbackOnly
) -> None:
    # The first hop passes the policy; the hop it redirects to must be vetted the same way.
    resolver = resolver_for({"images.test": ["127.0.0.1"], "internal.test": ["10.0.0.7"]})
    url = server.url(f"redirect?to={target.format(port=server.port)}", host="images.test")
    error = fetch_error(
        url, UrlFetchSettings(), client=loopback_client, resolver=resolver, is_allowed=only_loopback_one
    )
    assert error.status == 400
    assert error.kind == "url_refused"
    assert len(loopback_transport.sent) == 1  # the first hop only
