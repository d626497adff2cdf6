"""PapagoTranslator against ``httpx.MockTransport`` handlers that play Papago: success, both error shapes,
long texts, retries, deadlines, caching, deduplication, concurrency and secrecy of the credentials."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from gateway.translation import PapagoSettings, PapagoTranslator, Translation
from gateway.translation.papago import (
    KEY_HEADER,
    KEY_ID_HEADER,
    MAX_CHARS,
    backoff_delay,
    parse_error,
    parse_retry_after,
    split_text,
)

# Made up per run, so that a test finding one in output cannot be matching some fixed string by chance.
KEY_ID = f"test-id-{secrets.token_hex(6)}"
KEY = f"test-key-{secrets.token_hex(12)}"
ENDPOINT = "https://papago.test/nmt/v1/translation"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def make_settings(**overrides: object) -> PapagoSettings:
    base = PapagoSettings(
        KEY_ID,
        KEY,
        endpoint=ENDPOINT,
        timeout_s=2.0,
        max_attempts=3,
        backoff_base_s=0.001,
        backoff_max_s=0.01,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def success(text: str, source: str = "ko", target: str = "en") -> httpx.Response:
    result = {"translatedText": text, "srcLangType": source, "tarLangType": target}
    return httpx.Response(200, json={"message": {"@type": "response", "result": result}})


def ncp_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"errorCode": code, "message": message}}, headers=headers)


def papago_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errorCode": code, "errorMessage": message})


def upper(request: httpx.Request) -> httpx.Response:
    """A translation anyone can predict: the text in capitals."""
    body = json.loads(request.content)
    return success(body["text"].upper(), body["source"], body["target"])


@dataclass
class Upstream:
    """A scripted upstream: answers from ``script`` in turn (the last one repeats), records requests."""

    script: list[Handler]
    requests: list[httpx.Request] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        handler = self.script[min(len(self.requests), len(self.script)) - 1]
        response = handler(request)
        return await response if isinstance(response, Awaitable) else response

    @property
    def texts(self) -> list[str]:
        return [json.loads(r.content)["text"] for r in self.requests]


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep: records each backoff and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def translate(
    upstream: Upstream,
    batches: list[list[str]],
    settings: PapagoSettings | None = None,
    source: str = "ko",
    target: str = "en",
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> list[list[Translation]]:
    """Each batch through one translator (shared across batches, as in the gateway), in order."""

    async def run() -> list[list[Translation]]:
        extra = {"sleep": sleep} if sleep is not None else {}
        translator = PapagoTranslator(
            settings or make_settings(),
            transport=httpx.MockTransport(upstream),
            rng=random.Random(0),
            **extra,  # type: ignore[arg-type]
        )
        async with translator:
            return [await translator.translate(batch, source, target) for batch in batches]

    return asyncio.run(run())


def test_success_sends_papagos_request_and_keeps_blank_texts() -> None:
    upstream = Upstream([upper])
    [results] = translate(upstream, [["hello", "", "   ", "good morning"]])
    assert results == [
        Translation("HELLO", None),
        Translation("", None),
        Translation("   ", None),
        Translation("GOOD MORNING", None),
    ]
    assert len(upstream.requests) == 2  # blank texts need no call
    request = upstream.requests[0]
    assert request.method == "POST" and str(request.url) == ENDPOINT
    assert request.headers[KEY_ID_HEADER] == KEY_ID and request.headers[KEY_HEADER] == KEY
    assert json.loads(request.content) == {"source": "ko", "target": "en", "text": "hello"}


def test_zh_is_sent_as_zh_cn() -> None:
    upstream = Upstream([upper])
    translate(upstream, [["text"]], source="en", target="zh")
    assert json.loads(upstream.requests[0].content)["target"] == "zh-CN"


def test_unsupported_pair_and_same_language_make_no_call() -> None:
    upstream = Upstream([upper])
    [bad] = translate(upstream, [["a", "b"]], source="ko", target="xx")
    assert all(r.text is None and r.error and "unsupported target" in r.error for r in bad)
    [same] = translate(upstream, [["a", "b"]], source="en", target="EN")
    assert same == [Translation("a", None), Translation("b", None)]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ncp_error(401, "200", "Authentication Failed"), "papago 200: Authentication Failed (HTTP 401)"),
        (
            papago_error(400, "N2MT05", "source and target must be different"),
            "papago N2MT05: source and target must be different (HTTP 400)",
        ),
        (papago_error(400, "N2MT08", "text is too long"), "papago N2MT08: text is too long (HTTP 400)"),
    ],
)
def test_client_errors_of_both_shapes_are_per_item_and_not_retried(
    response: httpx.Response, expected: str
) -> None:
    upstream = Upstream([lambda _: response])
    [results] = translate(upstream, [["한국어", "영어"]])
    assert results == [Translation(None, expected)] * 2
    assert len(upstream.requests) == 2  # one per text, no retries


def test_parse_error_shapes() -> None:
    nested = b'{"error": {"errorCode": "200", "message": "Authentication Failed", "details": "Bad key."}}'
    assert parse_error(401, nested) == "papago 200: Authentication Failed: Bad key. (HTTP 401)"
    flat = b'{"errorCode": "N2MT02", "errorMessage": "Unsupported source language"}'
    assert parse_error(400, flat) == "papago N2MT02: Unsupported source language (HTTP 400)"
    assert parse_error(502, b"<html>\n <b>Bad   gateway</b></html>") == (
        "papago HTTP 502: <html> <b>Bad gateway</b></html>"
    )
    assert parse_error(500, b"") == "papago HTTP 500: empty body"
    assert parse_error(500, b"[1, 2]") == "papago HTTP 500: [1, 2]"


def test_split_text_cuts_at_sentence_ends_and_joins_back() -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "  # 65 characters
    text = sentence * 200  # 13,000 characters
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(len(p) <= MAX_CHARS for p in pieces) and len(pieces) == 3
    assert all(p.endswith(". ") for p in pieces)


def test_split_text_falls_back_to_whitespace_then_to_the_limit() -> None:
    words = "단어 " * 3000  # no sentence end anywhere
    pieces = split_text(words)
    assert "".join(pieces) == words and all(len(p) <= MAX_CHARS and p.endswith(" ") for p in pieces)
    unbroken = "가" * 12_000
    assert [len(p) for p in split_text(unbroken)] == [5000, 5000, 2000]
    chinese = "这是一个句子。" * 1000  # full stops without spaces
    pieces = split_text(chinese)
    assert "".join(pieces) == chinese and all(p.endswith("。") and len(p) <= MAX_CHARS for p in pieces)
    assert split_text("short") == ["short"] and split_text("") == [""]
    assert split_text("pi is 3.14159 ok", limit=8) == ["pi is ", "3.14159 ", "ok"]


def test_long_text_is_sent_in_pieces_and_joined() -> None:
    text = ("first sentence here. " * 150 + "\n") * 3  # about 9,500 characters
    upstream = Upstream([upper])
    [[result]] = translate(upstream, [[text]])
    assert result == Translation(text.upper(), None)  # whitespace between pieces survives
    assert len(upstream.requests) >= 2
    assert all(len(t) <= MAX_CHARS for t in upstream.texts)


def test_429_waits_for_retry_after() -> None:
    throttled = ncp_error(429, "410", "Throttle Limited", **{"Retry-After": "0.2"})
    upstream = Upstream([lambda _: throttled, upper])
    [results] = translate(upstream, [["rate"]])
    assert results == [Translation("RATE", None)]
    assert len(upstream.requests) == 2
    # Backoff alone would wait at most backoff_max_s = 0.01 s.
    assert upstream.times[1] - upstream.times[0] >= 0.2


def test_503_is_retried_with_capped_backoff() -> None:
    unavailable = ncp_error(503, "500", "Endpoint Error")
    upstream = Upstream([lambda _: unavailable, lambda _: unavailable, upper])
    sleeps = Sleeps()
    [results] = translate(upstream, [["again"]], sleep=sleeps)
    assert results == [Translation("AGAIN", None)]
    assert len(upstream.requests) == 3
    assert len(sleeps.delays) == 2 and all(0 <= d <= 0.01 for d in sleeps.delays)


def test_gives_up_after_max_attempts_with_a_per_item_error() -> None:
    upstream = Upstream([lambda _: papago_error(500, "N2MT99", "Internal server errors")])
    [results] = translate(upstream, [["doomed", "also doomed"]], settings=make_settings(max_attempts=3))
    assert len(upstream.requests) == 6
    for result in results:
        assert result.text is None
        assert result.error == "papago N2MT99: Internal server errors (HTTP 500) (gave up after 3 attempts)"


def test_connection_errors_and_timeouts_are_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return upper(request)

    upstream = Upstream([refuse, upper])
    assert translate(upstream, [["x"]]) == [[Translation("X", None)]]
    upstream = Upstream([refuse])
    [[result]] = translate(upstream, [["x"]], settings=make_settings(max_attempts=2))
    assert result.error == "papago: ConnectError: connection refused (gave up after 2 attempts)"
    upstream = Upstream([hang])
    started = time.monotonic()
    [[result]] = translate(upstream, [["x"]], settings=make_settings(max_attempts=2, timeout_s=0.05))
    assert result.error is not None and result.error.startswith("papago: no response within 0.05 s")
    assert len(upstream.requests) == 2 and time.monotonic() - started < 2


def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    upstream = Upstream([lambda _: ncp_error(429, "400", "Quota Exceeded", **{"Retry-After": "3600"})])
    [[result]] = translate(upstream, [["x"]], settings=make_settings(deadline_s=1.0, max_attempts=5))
    assert len(upstream.requests) == 1
    assert result.error is not None
    assert result.error.startswith("papago 400: Quota Exceeded (HTTP 429) (gave up after 1 attempts")
    assert "would pass the 1 s deadline" in result.error


def test_cache_answers_repeats_but_not_errors() -> None:
    upstream = Upstream([upper])
    first, second = translate(upstream, [["cached", "other"], ["other", "cached"]])
    assert second == [Translation("OTHER", None), Translation("CACHED", None)]
    assert first == second[::-1] and len(upstream.requests) == 2

    upstream = Upstream([lambda _: papago_error(400, "N2MT99", "flaky"), upper])
    failed, retried = translate(upstream, [["x"], ["x"]])
    assert failed[0].error is not None and retried == [Translation("X", None)]
    assert len(upstream.requests) == 2  # the error was not cached


def test_cache_is_lru_and_can_be_off() -> None:
    upstream = Upstream([upper])
    translate(upstream, [["a"], ["b"], ["a"], ["b"]], settings=make_settings(cache_size=1))
    assert upstream.texts == ["a", "b", "a", "b"]
    upstream = Upstream([upper])
    translate(upstream, [["a"], ["b"], ["b"], ["a"]], settings=make_settings(cache_size=2))
    assert upstream.texts == ["a", "b"]
    upstream = Upstream([upper])
    translate(upstream, [["a"], ["a"]], settings=make_settings(cache_size=0))
    assert upstream.texts == ["a", "a"]


def test_identical_texts_in_one_call_are_translated_once() -> None:
    upstream = Upstream([upper])
    [results] = translate(upstream, [["출구", "출구", " 출구\n", "입구", "출구"]])
    assert upstream.texts == ["출구", "입구"]
    assert [r.text for r in results] == ["출구", "출구", " 출구\n", "입구", "출구"]  # upper() is a no-op


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return upper(request)

    upstream = Upstream([slow])
    [results] = translate(
        upstream, [[f"text {i}" for i in range(12)]], settings=make_settings(max_concurrency=3)
    )
    assert [r.text for r in results] == [f"TEXT {i}" for i in range(12)]
    assert most == 3


def test_unreadable_success_body_is_an_error() -> None:
    upstream = Upstream([lambda _: httpx.Response(200, json={"message": {}})])
    [[result]] = translate(upstream, [["x"]])
    assert result == Translation(None, "papago: HTTP 200 without message.result.translatedText")


def test_secrets_stay_out_of_reprs_logs_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # An upstream that echoes the credentials back must not get them into our errors or logs.
    echo = ncp_error(503, "500", f"bad gateway for {KEY_ID}/{KEY}")
    upstream = Upstream([lambda _: echo])
    [[result]] = translate(upstream, [["x"]])
    assert result.error is not None and "<hidden>" in result.error
    translator = PapagoTranslator(make_settings())
    shown = " ".join([result.error, caplog.text, repr(translator), str(translator), repr(make_settings())])
    assert "papago" in caplog.text  # the retries were logged
    assert KEY not in shown and KEY_ID not in shown
    asyncio.run(translator.aclose())


def test_injected_client_is_left_open() -> None:
    async def run() -> bool:
        async with httpx.AsyncClient(transport=httpx.MockTransport(upper)) as client:
            translator = PapagoTranslator(make_settings(), client=client)
            assert await translator.translate(["x"], "ko", "en") == [Translation("X", None)]
            await translator.aclose()
            return client.is_closed

    assert asyncio.run(run()) is False


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("3", 3.0), ("0.25", 0.25), ("-4", 0.0), ("soon", None), ("nan", None)],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0


def test_backoff_is_jittered_capped_and_respects_retry_after() -> None:
    rng = random.Random(7)
    for attempt in range(1, 10):
        delays = [backoff_delay(attempt, 0.1, 1.0, None, rng) for _ in range(50)]
        assert all(0 <= d <= min(1.0, 0.1 * 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 1
    assert all(2.0 <= backoff_delay(1, 0.1, 1.0, 2.0, rng) <= 2.1 for _ in range(50))
