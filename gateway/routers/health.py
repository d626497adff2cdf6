"""``/healthz`` (the process is alive), ``/readyz`` (Triton and every model the gateway calls are ready)
and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.deps import ServicesDep
from gateway.settings import DETECTION_MODEL, OCR_MODELS, RECOGNITION_MODEL

router = APIRouter(tags=["health"])
REQUIRED_MODELS = (*OCR_MODELS.values(), DETECTION_MODEL, RECOGNITION_MODEL)


@router.get("/healthz", summary="The gateway process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


READINESS = {"type": "object", "properties": {"status": {"type": "string"}, "models": {"type": "object"}}}


@router.get(
    "/readyz",
    summary="Triton and every model the gateway calls are ready (else 503)",
    responses={
        200: {"description": "ready", "content": {"application/json": {"schema": READINESS}}},
        503: {
            "description": "Triton or a model is not ready; Retry-After says when to ask again",
            "content": {"application/json": {"schema": READINESS}},
        },
    },
)
async def readyz(services: ServicesDep) -> JSONResponse:
    models = await services.triton.ready_models(REQUIRED_MODELS)
    ready = all(models.values())
    if ready:
        await services.refresh_served()
    body = {"status": "ready" if ready else "not ready", "models": models}
    headers = {} if ready else {"Retry-After": str(services.settings.triton_retry_after_s)}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
