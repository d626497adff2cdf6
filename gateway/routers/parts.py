"""``POST /detection`` (boxes only) and ``POST /recognition`` (crops -> text), for callers that bring their
own half of the pipeline."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from gateway.bodies import read_image_request
from gateway.deps import ServicesDep, require_api_key
from gateway.inputs import InputError, check_image, decode_base64_image
from gateway.layout import orientation_of
from gateway.routers.images import ERRORS, image_body
from gateway.schemas import (
    DetectionBox,
    DetectionResponse,
    OcrRequest,
    Reading,
    RecognitionRequest,
    RecognitionResponse,
)
from gateway.service import finish
from gateway.settings import DETECTION_MODEL, RECOGNITION_MODEL
from gateway.timing import Timings

router = APIRouter(tags=["pipeline parts"], dependencies=[Depends(require_api_key)])


@router.post(
    "/detection",
    response_model=DetectionResponse,
    responses=ERRORS,
    openapi_extra=image_body(OcrRequest),
    summary="Find the text lines of an image: boxes in reading order, no text",
)
async def detection(request: Request, services: ServicesDep) -> DetectionResponse:
    timings = Timings()
    _, data = await read_image_request(request, services, OcrRequest)
    if data is None:
        raise InputError(422, "invalid_request", "/detection takes one image ('image' or 'url')")
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


@router.post(
    "/recognition",
    response_model=RecognitionResponse,
    responses=ERRORS,
    summary="Read one or more crops, each holding one line of text",
)
async def recognition(body: RecognitionRequest, services: ServicesDep) -> RecognitionResponse:
    timings = Timings()
    limit = services.settings.max_crops_per_call
    if len(body.crops) > limit:
        raise InputError(413, "too_many_crops", f"at most {limit} crops per call")
    limits = services.settings.image_limits()
    crops = [decode_base64_image(crop, limits) for crop in body.crops]
    for index, crop in enumerate(crops):
        try:
            check_image(crop, limits)
        except InputError as error:
            raise InputError(error.status, error.kind, f"crop {index}: {error.message}") from None
    source = services.source_language(body.source_lang)
    with timings.stage("recognition"):
        read = await services.triton.recognize(RECOGNITION_MODEL, crops, source, body.orientation)
    results = [
        Reading(text=text, confidence=float(min(max(score, 0.0), 1.0)), orientation=orientation)
        for text, score, orientation in zip(read.texts, read.scores, read.orientations, strict=True)
    ]
    return RecognitionResponse(results=results, source_lang=source, timings_ms=finish(services, timings))
