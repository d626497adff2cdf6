"""The FastAPI application: lifespan-created clients, routers, error answers, body limit and metrics.

python -m gateway --port 8080      # or: uvicorn --factory gateway.app:create_app
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import render
from gateway.bodies import describe
from gateway.inputs import InputError
from gateway.metrics import GatewayMetrics
from gateway.routers import health, images, parts, web
from gateway.service import Services
from gateway.settings import Settings, get_settings
from gateway.translation import make_translator
from gateway.triton import BackendError, TritonGateway

log = logging.getLogger("gateway")


def error_body(kind: str, detail: str) -> dict[str, str]:
    return {"error": kind, "detail": detail}


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before the app reads them: by ``Content-Length`` when
    sent, else while streaming (a chunked upload cannot slip past)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise InputError(413, "body_too_large", f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body("body_too_large", f"request body over {self.max_bytes} bytes"), status_code=413
        )
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def input_error(_: Request, error: InputError) -> JSONResponse:
        return JSONResponse(error_body(error.kind, error.message), status_code=error.status)

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, error: BackendError) -> JSONResponse:
        headers = {}
        if error.status == 503:
            headers["Retry-After"] = str(request.app.state.services.settings.triton_retry_after_s)
        return JSONResponse(error_body("backend", error.message), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", describe(error.errors())), status_code=422)


def install_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def count(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics: GatewayMetrics = request.app.state.metrics
            metrics.requests.labels(path, str(status)).inc()
            metrics.latency.labels(path).observe(time.perf_counter() - start)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        translator = make_translator(settings.translator, settings.papago())
        triton = TritonGateway(settings.triton_url, settings.triton_timeout_s)
        # trust_env=False: a proxy from the environment would connect past the URL fetcher's address pinning.
        http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        services = Services(settings, triton, translator, http, metrics)
        await services.refresh_served()
        await to_thread.run_sync(render.warm_up)
        app.state.services = services
        log.info("gateway up: triton %s, translator %s", settings.triton_url, translator.name)
        try:
            yield
        finally:
            await http.aclose()
            await translator.aclose()
            await triton.close()

    app = FastAPI(
        title="ocrstack gateway",
        summary="Korean, English and Chinese OCR with colours and translation, served on Triton",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    for router in (images.router, parts.router, health.router, web.router):
        app.include_router(router)
    app.mount("/web", web.static_files(), name="web")
    install_error_handlers(app)
    install_metrics(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
