"""``POST /detection`` (boxes only) and ``POST /recognition`` (crops -> text), for callers that bring their
own half of the pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gateway.bodies import read_crops, read_image_request
from gateway.deps import ServicesDep, require_api_key
from gateway.inputs import check_image
from gateway.layout import orientation_of
from gateway.routers.images import ERRORS, image_body
from gateway.schemas import (
    DetectionBox,
    DetectionOptions,
    DetectionRequest,
    DetectionResponse,
    Reading,
    RecognitionOptions,
    RecognitionRequest,
    RecognitionResponse,
)
from gateway.service import finish
from gateway.settings import DETECTION_MODEL, RECOGNITION_MODEL
from gateway.timing import Timings

BODY_MODELS: list[type[BaseModel]] = [DetectionRequest, RecognitionRequest]
router = APIRouter(tags=["pipeline parts"], dependencies=[Depends(require_api_key)])


@router.post(
    "/detection",
    response_model=DetectionResponse,
    responses=ERRORS,
    openapi_extra=image_body(DetectionRequest, DetectionOptions),
    summary="Find the text lines of an image: boxes in reading order, no text",
)
async def detection(request: Request, services: ServicesDep) -> DetectionResponse:
    timings = Timings()
    _, data = await read_image_request(request, services, DetectionOptions, DetectionRequest)
    assert data is not None  # DetectionRequest has no image list
    info = check_image(data, services.settings.image_limits())
    with timings.stage("detection"):
        result = await services.triton.ocr(DETECTION_MODEL, data, None)
    boxes = [
        DetectionBox(
            box=[(float(x), float(y)) for x, y in quad], score=float(score), orientation=orientation_of(quad)
        )
        for quad, score in zip(result.boxes, result.scores, strict=True)
    ]
    return DetectionResponse(
        width=info.width, height=info.height, boxes=boxes, timings_ms=finish(services, timings)
    )


def crops_body() -> dict[str, Any]:
    """OpenAPI for ``/recognition``: JSON (base64 crops) or multipart (one ``file`` per crop)."""
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1},
            **RecognitionOptions.model_json_schema()["properties"],
        },
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RecognitionRequest"}},
                "multipart/form-data": {"schema": form},
            },
        }
    }


@router.post(
    "/recognition",
    response_model=RecognitionResponse,
    responses=ERRORS,
    openapi_extra=crops_body(),
    summary="Read one or more crops, each holding one line of text",
)
async def recognition(request: Request, services: ServicesDep) -> RecognitionResponse:
    timings = Timings()
    options, crops = await read_crops(request, services)
    source = services.source_language(options.source_lang)
    with timings.stage("recognition"):
        read = await services.triton.recognize(
            RECOGNITION_MODEL, crops, source, options.orientation, options.layout
        )
    results = [
        Reading(text=text, confidence=float(min(max(score, 0.0), 1.0)), orientation=orientation)
        for text, score, orientation in zip(read.texts, read.scores, read.orientations, strict=True)
    ]
    return RecognitionResponse(results=results, source_lang=source, timings_ms=finish(services, timings))
