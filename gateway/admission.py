"""Admission control: a bounded number of requests in flight and in queue per route, and a deadline.

Beyond ``in_flight + queued`` requests on a route the next one is answered 503 with ``Retry-After`` at
once, before its body is read, rather than queued without bound: under overload latency stays bounded
by the queue and clients learn early that they should come back. The deadline covers the whole route
(queueing, body, decoding, Triton, translation): a request still queued when it passes is shed with 503,
one already running is answered 504.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import GatewayMetrics


@dataclass(frozen=True)
class RouteLimit:
    in_flight: int
    queued: int

    def __post_init__(self) -> None:
        if self.in_flight < 1 or self.queued < 0:
            raise ValueError(f"a route needs at least 1 request in flight and no negative queue: {self}")


class Gate:
    """One route's slots. Single event loop: the counters need no lock."""

    def __init__(self, limit: RouteLimit) -> None:
        self.limit = limit
        self.slots = asyncio.Semaphore(limit.in_flight)
        self.waiting = 0
        self.running = 0

    @property
    def full(self) -> bool:
        return self.waiting + self.running >= self.limit.in_flight + self.limit.queued

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self.slots.release()


class AdmissionControl:
    """ASGI middleware over the routes named in ``limits`` (paths of POST routes); others pass through."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Mapping[str, RouteLimit],
        deadline_s: float,
        retry_after_s: int,
        metrics: GatewayMetrics,
    ) -> None:
        self.app = app
        self.gates = {path: Gate(limit) for path, limit in limits.items()}
        self.deadline_s = deadline_s
        self.retry_after_s = retry_after_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gates.get(scope.get("path", "")) if scope["type"] == "http" else None
        if gate is None or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if gate.full:
            self.metrics.shed.labels(path, "full").inc()
            return await self._overloaded(send, "the service is at capacity; retry later")
        started = admitted = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.deadline_s) as deadline:
                async with gate.admit():
                    admitted = True
                    await self.app(scope, receive, tracked)
        except TimeoutError:
            if not deadline.expired() or started:
                raise
            if not admitted:
                self.metrics.shed.labels(path, "queue_deadline").inc()
                return await self._overloaded(send, "the service is at capacity; retry later")
            self.metrics.shed.labels(path, "deadline").inc()
            await _answer(send, 504, "deadline", f"the request took longer than {self.deadline_s:g} s")

    async def _overloaded(self, send: Send, detail: str) -> None:
        await _answer(send, 503, "overloaded", detail, {"Retry-After": str(self.retry_after_s)})


async def _answer(
    send: Send, status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    response = JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
