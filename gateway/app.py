"""The FastAPI application: lifespan-created clients, routers, error answers, body limit and metrics.

python -m gateway --port 8080      # or: uvicorn --factory gateway.app:create_app
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import render
from gateway.admission import AdmissionControl
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


class BodyTooLarge(Exception):
    """Raised from inside the app's ``receive`` once a streamed body passes the limit."""


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before the app reads them: by ``Content-Length`` when
    sent, else while streaming (a chunked upload cannot slip past).

    A streamed body crosses the limit deep inside the app, where the exception may come back wrapped
    (an exception group from a middleware's task group) or be turned into another answer (a body parser
    that reports every failure as 400). So the answer does not depend on it: once the limit is passed,
    whatever the app sends is dropped and the 413 is sent here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        exceeded = started = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                exceeded = True
                raise BodyTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a body it could not read; the 413 goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body("body_too_large", f"request body over {self.max_bytes} bytes"), status_code=413
        )
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


HTTP_ERROR_KINDS = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def input_error(_: Request, error: InputError) -> JSONResponse:
        return JSONResponse(error_body(error.kind, error.message), status_code=error.status)

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, error: BackendError) -> JSONResponse:
        headers = {}
        if error.status == 503:
            headers["Retry-After"] = str(request.app.state.services.settings.triton_retry_after_s)
        return JSONResponse(error_body(error.kind, error.message), status_code=error.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (a malformed multipart body, an unknown path) in the same shape as ours.
        kind = HTTP_ERROR_KINDS.get(error.status_code, "http_error")
        return JSONResponse(
            error_body(kind, str(error.detail)), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", describe(error.errors())), status_code=422)


def install_openapi(app: FastAPI, body_models: list[type[BaseModel]]) -> None:
    """Add the JSON body schemas the routes refer to by name (they read their bodies themselves, so
    FastAPI does not see them) to the document's components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        _, top = models_json_schema(
            [(model, "validation") for model in body_models], ref_template="#/components/schemas/{model}"
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in top.get("$defs", {}).items():
            components.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


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
    install_openapi(app, [*images.BODY_MODELS, *parts.BODY_MODELS])
    # Outermost first: metrics (every answer counted), admission (shed before the body is read), the
    # body limit.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        AdmissionControl,
        limits=settings.admission_limits(),
        deadline_s=settings.request_deadline_s,
        retry_after_s=settings.overload_retry_after_s,
        metrics=metrics,
    )
    install_metrics(app)
    return app
