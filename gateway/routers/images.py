"""``POST /translate_image`` and ``POST /ocr``: whole images in, lines (and translations) out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.bodies import read_body
from gateway.deps import ServicesDep, require_api_key
from gateway.inputs import InputError
from gateway.schemas import (
    ErrorResponse,
    ImageResult,
    OcrRequest,
    OcrResponse,
    TranslateOptions,
    TranslateRequest,
    TranslateResponse,
)
from gateway.service import check_languages, image_bytes, read_page, render_page, translate_page
from gateway.timing import Timings

router = APIRouter(tags=["images"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 415, 422, 503, 504)
}


def image_body(schema: type) -> dict[str, Any]:
    """OpenAPI for a body that is JSON, multipart (``file`` + options) or raw image bytes."""
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            **{k: v for k, v in TranslateOptions.model_json_schema()["properties"].items()},
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}},
                "multipart/form-data": {"schema": form},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


@router.post(
    "/translate_image",
    response_model=TranslateResponse,
    responses=ERRORS,
    openapi_extra=image_body(TranslateRequest),
    summary="Read, measure colours and translate every text line of an image",
)
async def translate_image(request: Request, services: ServicesDep) -> TranslateResponse:
    timings = Timings()
    options, data = await read_body(request, TranslateOptions, TranslateRequest)
    if data is None:
        assert isinstance(options, TranslateRequest)
        data = await image_bytes(services, options.image, options.url)
    source = services.source_language(options.source_lang)
    target = options.target_lang or services.settings.default_target_lang
    check_languages(source, target)
    mode, model = services.ocr_model(options.mode)
    page = await read_page(services, data, source, model, timings)
    built, failed = await translate_page(services, page, source, target, timings)
    rendered = await render_page(page, timings) if options.render else None
    report = timings.report()
    services.metrics.observe_stages(report)
    return TranslateResponse(
        width=page.image.shape[1],
        height=page.image.shape[0],
        lines=page.lines,
        paragraphs=built,
        source_lang=source,
        target_lang=target,
        mode=mode,
        translator=services.translator.name,
        translation_errors=failed,
        rendered_image=rendered,
        timings_ms=report,
    )


@router.post(
    "/ocr",
    response_model=OcrResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=image_body(OcrRequest),
    summary="Read every text line of one image, or of a list of images",
)
async def ocr(request: Request, services: ServicesDep) -> OcrResponse:
    timings = Timings()
    options, data = await read_body(request, TranslateOptions, OcrRequest)
    body = options if isinstance(options, OcrRequest) else None
    source = services.source_language(options.source_lang)
    mode, model = services.ocr_model(options.mode)
    if body is not None and body.images is not None:
        limit = services.settings.max_images_per_call
        if len(body.images) > limit:
            raise InputError(413, "too_many_images", f"at most {limit} images per call")
        results = []
        for item in body.images:
            page = await read_page(
                services, await image_bytes(services, item.image, item.url), source, model, timings
            )
            results.append(
                ImageResult(width=page.image.shape[1], height=page.image.shape[0], lines=page.lines)
            )
        report = timings.report()
        services.metrics.observe_stages(report)
        return OcrResponse(results=results, source_lang=source, mode=mode, timings_ms=report)
    if data is None:
        assert body is not None
        data = await image_bytes(services, body.image, body.url)
    page = await read_page(services, data, source, model, timings)
    report = timings.report()
    services.metrics.observe_stages(report)
    return OcrResponse(
        lines=page.lines,
        width=page.image.shape[1],
        height=page.image.shape[0],
        source_lang=source,
        mode=mode,
        timings_ms=report,
    )
