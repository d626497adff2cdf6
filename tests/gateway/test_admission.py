"""Finding 6 of issue 20: bounded requests in flight and in queue per route, 503 + Retry-After beyond,
and a deadline over the whole route. In process, with a stand-in Triton that takes as long as told."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.admission import RouteLimit
from gateway.settings import Settings
from ocrstack.serving.client import OcrResult
from tests.gateway.test_hardening import StandInTriton, make_app


class SlowTriton(StandInTriton):
    """Takes ``seconds`` a page; a ``stubborn`` one does not stop when cancelled (as work in a thread
    would not), so it holds its slot past the deadline."""

    def __init__(self, seconds: float, stubborn: bool = False) -> None:
        super().__init__()
        self.seconds, self.stubborn = seconds, stubborn
        self.running = 0
        self.most = 0

    async def ocr(self, model: str, image: bytes, lang: str | None) -> OcrResult:
        self.running += 1
        self.most = max(self.most, self.running)
        loop = asyncio.get_running_loop()
        end = loop.time() + self.seconds
        try:
            while (left := end - loop.time()) > 0:
                try:
                    await asyncio.sleep(left)
                except asyncio.CancelledError:
                    if not self.stubborn:
                        raise
        finally:
            self.running -= 1
        return await super().ocr(model, image, lang)


def slow_app(seconds: float, stubborn: bool = False, **settings: Any) -> FastAPI:
    app = make_app(**settings)
    app.state.services.triton = SlowTriton(seconds, stubborn)
    return app


async def post_many(app: FastAPI, png: bytes, count: int, path: str = "/ocr") -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
        headers = {"content-type": "image/png"}
        return list(
            await asyncio.gather(*(client.post(path, content=png, headers=headers) for _ in range(count)))
        )


def test_beyond_in_flight_and_queue_is_503_with_retry_after(png: bytes) -> None:
    app = slow_app(0.3, admission_in_flight=2, admission_queued=3, overload_retry_after_s=7)
    responses = asyncio.run(post_many(app, png, 9))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [503] * 4, statuses
    shed = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "7" and r.json()["error"] == "overloaded" for r in shed)
    assert app.state.services.triton.most == 2  # never more than in_flight at once
    # Each route has its own gate: /detection is not held up by a full /ocr.
    both = asyncio.run(_ocr_and_detection(app, png))
    assert [r.status_code for r in both] == [200, 200]


async def _ocr_and_detection(app: FastAPI, png: bytes) -> list[httpx.Response]:
    ocr = post_many(app, png, 1, "/ocr")
    detection = post_many(app, png, 1, "/detection")
    first, second = await asyncio.gather(ocr, detection)
    return [*first, *second]


def test_a_request_running_past_the_deadline_is_504(png: bytes) -> None:
    app = slow_app(2.0, admission_in_flight=1, admission_queued=1, request_deadline_s=0.3)
    (running,) = asyncio.run(post_many(app, png, 1))
    assert running.status_code == 504 and running.json()["error"] == "deadline", running.text
    # The slot came back: the next request runs (and times out) again rather than being refused.
    (again,) = asyncio.run(post_many(app, png, 1))
    assert again.status_code == 504


def test_a_request_queued_past_the_deadline_is_shed_as_503(png: bytes) -> None:
    app = slow_app(1.0, stubborn=True, admission_in_flight=1, admission_queued=1, request_deadline_s=0.3)
    _, queued = asyncio.run(post_many(app, png, 2))
    assert queued.status_code == 503 and "retry-after" in queued.headers, queued.text


def test_the_defaults_take_16_clients_on_one_route(png: bytes) -> None:
    app = slow_app(0.05)
    responses = asyncio.run(post_many(app, png, 16))
    assert [r.status_code for r in responses] == [200] * 16


def test_other_routes_are_not_gated(png: bytes) -> None:
    app = slow_app(0.0, admission_in_flight=1, admission_queued=0)
    transport = httpx.ASGITransport(app=app)

    async def go() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return (await client.get("/healthz")).status_code

    assert asyncio.run(go()) == 200


def test_route_overrides_are_checked() -> None:
    settings = Settings(admission_routes={"/ocr": (1, 2)})
    assert settings.admission_limits()["/ocr"] == RouteLimit(1, 2)
    with pytest.raises(ValueError, match="without admission control"):
        Settings(admission_routes={"/healthz": (1, 2)}).admission_limits()
