"""``POST /translate_image`` and ``POST /ocr``: whole images in, lines (and translations) out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from gateway.bodies import read_image_request
from gateway.deps import ServicesDep, require_api_key
from gateway.inputs import InputError
from gateway.schemas import (
    ErrorResponse,
    ImageResult,
    OcrOptions,
    OcrRequest,
    OcrResponse,
    TranslateOptions,
    TranslateRequest,
    TranslateResponse,
)
from gateway.service import check_languages, finish, image_bytes, read_page, render_page, translate_page
from gateway.timing import Timings

router = APIRouter(tags=["images"], dependencies=[Depends(require_api_key)])

BODY_MODELS: list[type[BaseModel]] = [TranslateRequest, OcrRequest]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 415, 422, 503, 504)
}


def image_body(schema: type[BaseModel], options: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body that is JSON, multipart (``file`` + options) or raw image bytes. The JSON
    schema is referenced by name: :func:`gateway.app.install_openapi` adds it to the components."""
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}, **_properties(options)},
        "additionalProperties": False,
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


def _properties(options: type[BaseModel]) -> dict[str, Any]:
    """An options model's fields as form properties; they must not refer to other schemas."""
    return options.model_json_schema().get("properties", {})


@router.post(
    "/translate_image",
    response_model=TranslateResponse,
    responses=ERRORS,
    openapi_extra=image_body(TranslateRequest, TranslateOptions),
    summary="Read, measure colours and translate every text line of an image",
)
async def translate_image(request: Request, services: ServicesDep) -> TranslateResponse:
    timings = Timings()
    options, data = await read_image_request(request, services, TranslateOptions, TranslateRequest)
    assert data is not None  # only an /ocr list comes without bytes
    source = services.source_language(options.source_lang)
    target = options.target_lang or services.settings.default_target_lang
    check_languages(source, target)
    mode, model = services.ocr_model(options.mode)
    page = await read_page(services, data, source, model, timings)
    built, failed = await translate_page(services, page, source, target, timings)
    rendered = await render_page(page, timings) if options.render else None
    width, height = page.size
    return TranslateResponse(
        width=width,
        height=height,
        lines=page.lines,
        paragraphs=built,
        source_lang=source,
        target_lang=target,
        mode=mode,
        translator=services.translator.name,
        translation_errors=failed,
        rendered_image=rendered,
        timings_ms=finish(services, timings),
    )


@router.post(
    "/ocr",
    response_model=OcrResponse,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=image_body(OcrRequest, OcrOptions),
    summary="Read every text line of one image, or of a list of images",
)
async def ocr(request: Request, services: ServicesDep) -> OcrResponse:
    timings = Timings()
    options, data = await read_image_request(request, services, OcrOptions, OcrRequest)
    source = services.source_language(options.source_lang)
    mode, model = services.ocr_model(options.mode)
    if data is not None:
        page = await read_page(services, data, source, model, timings)
        width, height = page.size
        return OcrResponse(
            lines=page.lines,
            width=width,
            height=height,
            source_lang=source,
            mode=mode,
            timings_ms=finish(services, timings),
        )
    assert isinstance(options, OcrRequest) and options.images is not None
    limit = services.settings.max_images_per_call
    if len(options.images) > limit:
        raise InputError(413, "too_many_images", f"at most {limit} images per call")
    results = []
    for item in options.images:
        page = await read_page(
            services, await image_bytes(services, item.image, item.url), source, model, timings
        )
        width, height = page.size
        results.append(ImageResult(width=width, height=height, lines=page.lines))
    return OcrResponse(results=results, source_lang=source, mode=mode, timings_ms=finish(services, timings))
