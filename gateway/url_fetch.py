"""Fetch an image from a client-supplied URL without letting the client reach our own network (SSRF).

Status codes, raised as ``InputError`` because the URL is client input:

- 400 ``url_refused``: malformed URL; scheme other than http/https; user:password in the URL; no
  host; a host, or any redirect hop, resolving to a non-public or cloud-metadata address; more
  redirects than ``max_redirects``.
- 413 ``payload_too_large``: the body exceeds ``max_bytes``, as declared or as counted while reading.
- 415 ``unsupported_media_type``: the server labels its body as something other than an image.
- 422 ``url_fetch_failed``: the URL was acceptable but could not be fetched: the host does not
  resolve, refuses the connection, answers with an HTTP error or an encoded body, or takes longer
  than ``total_timeout_s``. Not 502/504, which would tell clients and our alerting that *our*
  backend failed (and invite retries) when the client pointed us at a dead or slow link; not 408,
  which means the client was slow sending its own request.

Pinning: each hop's host is resolved once and every address it has is vetted; the request then goes
to the first vetted address itself (the URL's host is replaced by the IP) with the original ``Host``
header and, for https, the original name as SNI and certificate name (httpcore's ``sni_hostname``
extension). A DNS answer that changes between our check and the connection (rebinding) therefore
cannot steer the request. ``Connection: close`` keeps a pooled connection, opened for another name
at the same address, from being reused, so a shared client stays safe. Redirects are followed here,
each ``Location`` vetted like the first URL. A client passed in must carry no credentials or
proxies of its own: it sends whatever we ask, to wherever it is configured to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import httpx

from gateway.inputs import DEFAULT_MAX_BYTES, InputError, media_type

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
AddressPredicate = Callable[[IPAddress], bool]

# Refused even with allow_private: a private deployment may fetch from its own network, but never
# from the cloud instance metadata services, which hand out credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal"})

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not flagged private by ipaddress
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CATEGORIES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("shared", lambda ip: ip in _SHARED),
    ("private", lambda ip: ip.is_private),
    ("reserved", lambda ip: ip.is_reserved),
    # The rest of IANA's special-purpose registry (documentation, benchmarking...).
    ("non-global", lambda ip: not ip.is_global),
)


@dataclass(frozen=True)
class UrlFetchSettings:
    allowed_schemes: tuple[str, ...] = ("http", "https")
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout_s: float = 3.0
    total_timeout_s: float = 10.0  # DNS, every hop and the whole body together
    max_redirects: int = 3
    allow_private: bool = False  # opt-in for tests and deployments that fetch from their own network
    user_agent: str = "ocrstack-gateway (image fetch)"


class PinnedRequest(NamedTuple):
    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``; raises ``OSError`` when there is none."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def fetch_image(
    url: str,
    settings: UrlFetchSettings,
    client: httpx.AsyncClient | None = None,
    resolver: Resolver = resolve_host,
    is_allowed: AddressPredicate | None = None,
) -> bytes:
    """The body behind ``url``, at most ``settings.max_bytes``, or an ``InputError``.

    ``is_allowed`` is the address policy; by default public addresses, or every address when
    ``settings.allow_private``. Metadata addresses and names are refused whatever it says.
    """
    allowed = is_allowed or partial(is_address_allowed, allow_private=settings.allow_private)
    try:
        async with asyncio.timeout(settings.total_timeout_s):
            if client is not None:
                return await _follow(url, settings, client, resolver, allowed)
            # trust_env=False: an environment proxy would connect on our behalf, past the pinning.
            async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as own:
                return await _follow(url, settings, own, resolver, allowed)
    except TimeoutError as error:
        raise _failed(f"timed out after {settings.total_timeout_s:g} s") from error


def address_category(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address ('loopback', 'private'...), or None when it is."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        # The IPv4 address the packet would end up at is what counts.
        return address_category(embedded)
    return next((name for name, test in _CATEGORIES if test(ip)), None)


def is_address_allowed(ip: IPAddress, allow_private: bool = False) -> bool:
    return allow_private or address_category(ip) is None


def is_metadata_address(ip: IPAddress) -> bool:
    embedded = _embedded_ipv4(ip)
    return ip in METADATA_ADDRESSES or (embedded is not None and embedded in METADATA_ADDRESSES)


def parse_fetch_url(url: str, settings: UrlFetchSettings) -> httpx.URL:
    """The URL if its form is acceptable (scheme, no credentials, a host); 400 otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise _refused("not a valid url") from error
    if parsed.scheme not in settings.allowed_schemes:
        schemes = " or ".join(settings.allowed_schemes)
        raise _refused(f"scheme {parsed.scheme or '(none)'!r} is not allowed; use {schemes}")
    if parsed.userinfo:
        raise _refused("credentials in the url are not allowed")
    if not parsed.host:
        raise _refused("the url has no host")
    return parsed


async def vet_host(url: httpx.URL, resolver: Resolver, is_allowed: AddressPredicate) -> IPAddress:
    """The address to connect to for ``url``, once every address its host has passed the policy."""
    host = url.host
    if host.rstrip(".").lower() in METADATA_HOSTNAMES:
        raise _refused(f"host {host!r} is a cloud metadata service")
    literal = _parse_ip(host)
    if literal is not None:
        if is_metadata_address(literal) or not is_allowed(literal):
            raise _refused(f"address {host} is {_describe(literal)}")
        return literal
    addresses = await _resolve(url, resolver)
    # Any bad address refuses the host: which one a connection would use is not ours to choose.
    # The address itself is not named, so that the message maps no internal DNS for the client.
    if any(is_metadata_address(ip) or not is_allowed(ip) for ip in addresses):
        raise _refused(f"host {host!r} resolves to a non-public address")
    return addresses[0]


def pinned_request(url: httpx.URL, address: IPAddress) -> PinnedRequest:
    """The request for ``url`` sent to ``address`` itself, naming the original host to the server."""
    extensions: dict[str, str] = {}
    if url.scheme == "https" and _parse_ip(url.host) is None:
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return PinnedRequest(url.copy_with(host=str(address)), {"Host": url.netloc.decode("ascii")}, extensions)


async def _follow(
    url: str,
    settings: UrlFetchSettings,
    client: httpx.AsyncClient,
    resolver: Resolver,
    allowed: AddressPredicate,
) -> bytes:
    current = parse_fetch_url(url, settings)
    for _ in range(settings.max_redirects + 1):
        address = await vet_host(current, resolver, allowed)
        outcome = await _get_once(client, current, address, settings)
        if isinstance(outcome, bytes):
            return outcome
        current = parse_fetch_url(str(outcome), settings)
    raise _refused(f"more than {settings.max_redirects} redirects")


async def _get_once(
    client: httpx.AsyncClient, url: httpx.URL, address: IPAddress, settings: UrlFetchSettings
) -> bytes | httpx.URL:
    """The body, or where a redirect points (joined to ``url``, never to the pinned IP URL)."""
    target = pinned_request(url, address)
    headers = {
        **target.headers,
        "User-Agent": settings.user_agent,
        "Accept": "image/*",
        # Images are compressed already; an encoded body could expand past the limit in one chunk.
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    timeout = httpx.Timeout(settings.total_timeout_s, connect=settings.connect_timeout_s)
    try:
        async with client.stream(
            "GET",
            target.url,
            headers=headers,
            extensions=target.extensions,
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            if response.is_redirect:
                return _redirect_target(url, response.headers["Location"])
            _check_response(response, settings.max_bytes)
            return await _read_limited(response, settings.max_bytes)
    except httpx.TimeoutException as error:
        raise _failed(f"timed out connecting to or reading from {url.host!r}") from error
    except httpx.HTTPError as error:
        raise _failed(f"transfer from {url.host!r} failed ({type(error).__name__})") from error


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    if not response.is_success:
        raise _failed(f"the server answered HTTP {response.status_code}")
    kind = media_type(response.headers.get("Content-Type"))
    # Missing and generic binary types pass: the bytes are identified from their header later.
    if (
        kind
        and not kind.startswith("image/")
        and kind not in ("application/octet-stream", "binary/octet-stream")
    ):
        raise InputError(415, "unsupported_media_type", f"the url serves {kind!r}, not an image")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _failed(f"the server sent a {encoding}-encoded body although none was asked for")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)


async def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, stopping as soon as it passes ``max_bytes``: a Content-Length is only a claim."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    try:
        return url.join(location)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise _refused("a redirect points to an invalid url") from error


async def _resolve(url: httpx.URL, resolver: Resolver) -> list[IPAddress]:
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        found = await resolver(url.raw_host.decode("ascii"), port)
    except OSError as error:
        raise _failed(f"host {url.host!r} does not resolve") from error
    addresses = [_parse_ip(a) for a in found]
    if not addresses or None in addresses:
        raise _failed(f"host {url.host!r} does not resolve to usable addresses")
    return [ip for ip in addresses if ip is not None]


def _describe(ip: IPAddress) -> str:
    if is_metadata_address(ip):
        return "a cloud metadata address"
    category = address_category(ip)
    return f"a {category} address" if category else "not an allowed address"


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which decides where it leads."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _refused(reason: str) -> InputError:
    return InputError(400, "url_refused", f"url refused: {reason}")


def _failed(reason: str) -> InputError:
    return InputError(422, "url_fetch_failed", f"could not fetch url: {reason}")


def _too_large(max_bytes: int) -> InputError:
    return InputError(413, "payload_too_large", f"image too large: the url's body exceeds {max_bytes} bytes")
