"""Papago NMT on Naver Cloud Platform behind the ``Translator`` interface.

One request translates one text of at most 5,000 characters, so a batch becomes many small requests: they
share one connection pool, run at most ``max_concurrency`` at a time, are retried on 429/5xx/network
failures with jittered exponential backoff inside one deadline per ``translate`` call, and their results
are kept in an LRU cache. Failures come back as per-item errors; nothing here raises for an upstream fault.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from gateway.translation.base import (
    Translation,
    Translator,
    UnsupportedLanguageError,
    failed,
    resolve_pair,
)

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://papago.apigw.ntruss.com/nmt/v1/translation"
MAX_CHARS = 5000  # Papago's limit on one request's text

KEY_ID_HEADER = "X-NCP-APIGW-API-KEY-ID"
KEY_HEADER = "X-NCP-APIGW-API-KEY"

# Where a long text may be cut without splitting a sentence: after terminal punctuation (Latin needs the
# following whitespace so that "3.14" stays whole; CJK full stops need none), or at a line break.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|[。！？]+[\"'”’)\]」』]*\s*|\n\s*")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PapagoSettings:
    """How to reach Papago and how hard to try. The gateway's pydantic settings build this record."""

    key_id: str
    key: str
    endpoint: str = DEFAULT_ENDPOINT
    timeout_s: float = 10.0  # one request, connection to last byte
    max_attempts: int = 4
    max_concurrency: int = 8  # requests in flight across all calls on one translator
    cache_size: int = 4096  # translated pieces kept; 0 turns the cache off
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    deadline_s: float = 30.0  # one translate() call, retries and queueing included

    def __post_init__(self) -> None:
        url = httpx.URL(self.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"papago endpoint must be an http(s) URL, got {self.endpoint!r}")
        positive = {"timeout_s": self.timeout_s, "deadline_s": self.deadline_s}
        at_least_one = {"max_attempts": self.max_attempts, "max_concurrency": self.max_concurrency}
        not_negative = {
            "cache_size": self.cache_size,
            "backoff_base_s": self.backoff_base_s,
            "backoff_max_s": self.backoff_max_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value in at_least_one.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name, value in not_negative.items():
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    @property
    def has_credentials(self) -> bool:
        return bool(self.key_id.strip() and self.key.strip())

    def __repr__(self) -> str:
        # Written by hand so that neither credential can reach a log line or a traceback.
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in (
                "endpoint",
                "timeout_s",
                "max_attempts",
                "max_concurrency",
                "cache_size",
                "backoff_base_s",
                "backoff_max_s",
                "deadline_s",
            )
        )
        credentials = "<set>" if self.has_credentials else "<missing>"
        return f"PapagoSettings(credentials={credentials}, {shown})"


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``limit`` characters that join back to it exactly.

    Each cut is at the last sentence end inside the limit, else at the last whitespace, else (one
    unbroken run of characters) at the limit itself.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = _last_match_end(_SENTENCE_END, window) or _last_match_end(_WHITESPACE, window) or limit
        pieces.append(text[start : start + cut])
        start += cut
    pieces.append(text[start:])
    return pieces


def _last_match_end(pattern: re.Pattern[str], window: str) -> int:
    """End of the last match of ``pattern`` in ``window``; 0 when there is none."""
    end = 0
    for match in pattern.finditer(window):
        end = match.end()
    return end


def parse_translation(body: bytes) -> str | None:
    """``message.result.translatedText`` from a success body, or ``None`` when the body is not one."""
    try:
        data = json.loads(body)
        text = data["message"]["result"]["translatedText"]
    except (ValueError, KeyError, TypeError):
        return None
    return text if isinstance(text, str) else None


def parse_error(status: int, body: bytes) -> str:
    """A readable error from either of Papago's error bodies.

    The API gateway in front of Papago answers ``{"error": {"errorCode", "message", "details"}}`` (bad key,
    quota); Papago itself answers ``{"errorCode", "errorMessage"}`` (bad parameters, internal errors).
    """
    code, message = _error_fields(body)
    if code is None and message is None:
        snippet = " ".join(body.decode("utf-8", "replace").split())[:200]
        return f"papago HTTP {status}: {snippet or 'empty body'}"
    return f"papago {code or 'error'}: {message or 'no message'} (HTTP {status})"


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    nested = data.get("error")
    if isinstance(nested, dict):
        message, details = _as_text(nested.get("message")), _as_text(nested.get("details"))
        if message and details and details != message:
            message = f"{message}: {details}"
        return _as_text(nested.get("errorCode")), message or details
    return _as_text(data.get("errorCode")), _as_text(data.get("errorMessage"))


def _as_text(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds (fractions tolerated) or an HTTP date.
    ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(
    attempt: int, base_s: float, max_s: float, retry_after_s: float | None, rng: random.Random
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    "Full jitter": uniform in [0, min(max_s, base_s * 2^(attempt-1))], which spreads the retries of many
    concurrent requests instead of sending them back together. A server's ``Retry-After`` is a floor, with
    a little jitter on top for the same reason.
    """
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    if retry_after_s is None:
        return rng.uniform(0.0, ceiling)
    return retry_after_s + rng.uniform(0.0, min(base_s, max_s))


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One request's result: a translation, or an error and whether trying again may help."""

    text: str | None = None
    error: str = ""
    retryable: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class _Piece:
    """Part of an input text: ``core`` is sent to Papago, the whitespace around it is kept as it was."""

    lead: str
    core: str
    trail: str


def _pieces(text: str) -> list[_Piece]:
    pieces = []
    for part in split_text(text):
        core = part.strip()
        if not core:
            pieces.append(_Piece(part, "", ""))
            continue
        lead_end = len(part) - len(part.lstrip())
        trail_start = len(part.rstrip())
        pieces.append(_Piece(part[:lead_end], core, part[trail_start:]))
    return pieces


class PapagoTranslator(Translator):
    """Papago NMT with retries, bounded concurrency, an LRU cache and per-item errors.

    ``client`` (owned and closed by the caller) or ``transport`` (for a client this translator owns) are
    for tests and for sharing a pool; ``rng`` and ``sleep`` make the backoff observable in tests.
    """

    name = "papago"

    def __init__(
        self,
        settings: PapagoSettings,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not settings.has_credentials:
            raise ValueError("the papago translator needs both an API key id and an API key")
        if client is not None and transport is not None:
            raise ValueError("pass either a client or a transport, not both")
        self._settings = settings
        self._owns_client = client is None
        self._client = (
            client
            if client is not None
            else httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(settings.timeout_s),
                limits=httpx.Limits(
                    max_connections=settings.max_concurrency,
                    max_keepalive_connections=settings.max_concurrency,
                ),
            )
        )
        self._headers = {KEY_ID_HEADER: settings.key_id, KEY_HEADER: settings.key}
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._rng = rng or random.Random()
        self._sleep = sleep

    @property
    def settings(self) -> PapagoSettings:
        return self._settings

    def __repr__(self) -> str:
        return f"PapagoTranslator({self._settings!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]:
        try:
            pair = resolve_pair(source, target)
        except UnsupportedLanguageError as exc:
            return failed(len(texts), str(exc))
        if pair[0] == pair[1]:
            return [Translation(text, None) for text in texts]
        deadline = asyncio.get_running_loop().time() + self._settings.deadline_s
        split = [_pieces(text) for text in texts]
        # A dict keeps first-seen order and makes identical pieces (within this call) one request.
        unique = list(dict.fromkeys(piece.core for pieces in split for piece in pieces if piece.core))
        results = await asyncio.gather(*(self._translate_piece(core, pair, deadline) for core in unique))
        by_core = dict(zip(unique, results, strict=True))
        return [_assemble(text, pieces, by_core) for text, pieces in zip(texts, split, strict=True)]

    async def _translate_piece(self, core: str, pair: tuple[str, str], deadline: float) -> Translation:
        key = (pair[0], pair[1], core)
        cached = self._cache_get(key)
        if cached is not None:
            return Translation(cached, None)
        result = await self._with_retries(core, pair, deadline)
        if result.text is not None:
            self._cache_put(key, result.text)
        return result

    async def _with_retries(self, core: str, pair: tuple[str, str], deadline: float) -> Translation:
        loop = asyncio.get_running_loop()
        attempts = self._settings.max_attempts
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(core, pair, deadline)
            if outcome.text is not None:
                return Translation(outcome.text, None)
            error = self._scrub(outcome.error)
            if not outcome.retryable:
                return Translation(None, error)
            if attempt >= attempts:
                logger.warning("papago: giving up after %d attempts: %s", attempt, error)
                return Translation(None, f"{error} (gave up after {attempt} attempts)")
            delay = backoff_delay(
                attempt,
                self._settings.backoff_base_s,
                self._settings.backoff_max_s,
                outcome.retry_after_s,
                self._rng,
            )
            if loop.time() + delay > deadline:
                logger.warning(
                    "papago: giving up, a retry in %.2f s would pass the deadline: %s", delay, error
                )
                return Translation(
                    None,
                    f"{error} (gave up after {attempt} attempts: a retry in {delay:.3g} s would pass the "
                    f"{self._settings.deadline_s:g} s deadline)",
                )
            logger.info(
                "papago: attempt %d/%d failed, retrying in %.2f s: %s", attempt, attempts, delay, error
            )
            await self._sleep(delay)

    async def _attempt(self, core: str, pair: tuple[str, str], deadline: float) -> _Attempt:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                await self._semaphore.acquire()
        except TimeoutError:
            return _Attempt(error="papago: deadline reached while waiting for a free connection")
        try:
            budget = min(self._settings.timeout_s, deadline - loop.time())
            body = {"source": pair[0], "target": pair[1], "text": core}
            # httpx's timeout bounds each phase; this one bounds the whole exchange.
            async with asyncio.timeout(budget):
                response = await self._client.post(self._settings.endpoint, json=body, headers=self._headers)
        except TimeoutError:
            return _Attempt(error=f"papago: no response within {budget:.3g} s", retryable=True)
        except httpx.TransportError as exc:
            return _Attempt(
                error=f"papago: {type(exc).__name__}: {str(exc) or 'connection failed'}", retryable=True
            )
        except httpx.HTTPError as exc:
            return _Attempt(error=f"papago: {type(exc).__name__}: {exc}")
        finally:
            self._semaphore.release()
        return _classify(response)

    def _scrub(self, message: str) -> str:
        """``message`` without the credentials, in case an upstream or proxy ever echoes them back."""
        for secret in (self._settings.key, self._settings.key_id):
            if secret:
                message = message.replace(secret, "<hidden>")
        return message

    def _cache_get(self, key: tuple[str, str, str]) -> str | None:
        text = self._cache.get(key)
        if text is not None:
            self._cache.move_to_end(key)
        return text

    def _cache_put(self, key: tuple[str, str, str], text: str) -> None:
        if self._settings.cache_size == 0:
            return
        self._cache[key] = text
        self._cache.move_to_end(key)
        while len(self._cache) > self._settings.cache_size:
            self._cache.popitem(last=False)


def _classify(response: httpx.Response) -> _Attempt:
    if response.status_code == 200:
        text = parse_translation(response.content)
        if text is None:
            return _Attempt(error="papago: HTTP 200 without message.result.translatedText")
        return _Attempt(text=text)
    retryable = response.status_code == 429 or response.status_code >= 500
    return _Attempt(
        error=parse_error(response.status_code, response.content),
        retryable=retryable,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
    )


def _assemble(text: str, pieces: list[_Piece], by_core: dict[str, Translation]) -> Translation:
    """The translation of ``text`` from its pieces' translations; the first failed piece fails it."""
    if not text.strip():
        return Translation(text, None)
    parts = []
    for index, piece in enumerate(pieces, start=1):
        if not piece.core:
            parts.append(piece.lead)
            continue
        result = by_core[piece.core]
        if result.text is None:
            where = f"piece {index}/{len(pieces)}: " if len(pieces) > 1 else ""
            return Translation(None, f"{where}{result.error}")
        parts.append(f"{piece.lead}{result.text}{piece.trail}")
    return Translation("".join(parts), None)
