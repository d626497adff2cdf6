"""Reading an image request in any of the three shapes the image routes accept.

- ``multipart/form-data``: the image in ``file``, options as form fields;
- ``application/json``: the schema's body, the image as base64 ``image`` or a ``url``;
- an image content type (``image/png``...) or ``application/octet-stream``: the raw bytes, options in the
  query string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from gateway.inputs import InputError, check_content_type, check_image, decode_base64_image, media_type
from gateway.schemas import RecognitionOptions, RecognitionRequest
from gateway.service import Services, image_bytes

Options = TypeVar("Options", bound=BaseModel)


def describe(errors: Sequence[Any]) -> str:
    """Pydantic's validation errors as one line a client can read: ``field: problem; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)


def _validated(model: type[Options], values: dict) -> Options:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise InputError(422, "invalid_request", describe(error.errors())) from None


async def read_body(
    request: Request, options: type[Options], json_body: type[Options]
) -> tuple[Options, bytes | None]:
    """The request's options and its image. A JSON body is read as ``json_body`` (a subclass of
    ``options`` that also holds the image source), and no image bytes come back: the caller gets them
    from the source it names."""
    kind = media_type(request.headers.get("content-type"))
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError(400, "missing_file", "multipart requests carry the image in a 'file' field")
        check_content_type(upload.content_type)
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        return _validated(options, fields), await upload.read()
    if kind == "application/json":
        payload = parse_json(await request.body())
        if not isinstance(payload, dict):
            raise InputError(422, "invalid_request", "the JSON body must be an object")
        return _validated(json_body, payload), None
    check_content_type(request.headers.get("content-type"))
    return _validated(options, dict(request.query_params)), await request.body()


def parse_json(body: bytes) -> object:
    """The body as JSON, or a 400. Besides malformed text this refuses nesting deeper than the parser's
    recursion limit (``RecursionError``) and integers past Python's digit limit (``ValueError``): both
    would otherwise escape as 500s.
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(400, "invalid_json", "the body is not valid JSON") from None


async def read_image_request(
    request: Request, services: Services, options: type[Options], json_body: type[Options]
) -> tuple[Options, bytes | None]:
    """The options and the image bytes, in whichever shape they came; the bytes are None only for an
    ``/ocr`` list (``images``), whose sources the caller reads one by one."""
    chosen, data = await read_body(request, options, json_body)
    if data is None and getattr(chosen, "images", None) is None:
        data = await image_bytes(services, getattr(chosen, "image", None), getattr(chosen, "url", None))
    return chosen, data


async def read_crops(request: Request, services: Services) -> tuple[RecognitionOptions, list[bytes]]:
    """``/recognition``'s options and crops: JSON (``crops`` as base64) or multipart (one ``file`` field
    per crop, options as form fields). Crops are checked against the image limits one by one."""
    limits = services.settings.image_limits()
    kind = media_type(request.headers.get("content-type"))
    if kind == "multipart/form-data":
        form = await request.form()
        uploads = [u for u in form.getlist("file") if isinstance(u, UploadFile)]
        if not uploads:
            raise InputError(400, "missing_file", "multipart requests carry each crop in a 'file' field")
        _check_crop_count(len(uploads), services.settings.max_crops_per_call)
        for upload in uploads:
            check_content_type(upload.content_type)
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        crops = [await upload.read() for upload in uploads]
        chosen: RecognitionOptions = _validated(RecognitionOptions, fields)
    elif kind == "application/json":
        payload = parse_json(await request.body())
        if not isinstance(payload, dict):
            raise InputError(422, "invalid_request", "the JSON body must be an object")
        body = _validated(RecognitionRequest, payload)
        _check_crop_count(len(body.crops), services.settings.max_crops_per_call)
        crops = [decode_base64_image(crop, limits) for crop in body.crops]
        chosen = body
    else:
        raise InputError(
            415,
            "unsupported_media_type",
            f"unsupported media type {kind or 'none'!r}: send application/json or multipart/form-data",
        )
    for index, crop in enumerate(crops):
        try:
            check_image(crop, limits)
        except InputError as error:
            raise InputError(error.status, error.kind, f"crop {index}: {error.message}") from None
    return chosen, crops


def _check_crop_count(count: int, limit: int) -> None:
    if count > limit:
        raise InputError(413, "too_many_crops", f"at most {limit} crops per call")
