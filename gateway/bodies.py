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

from gateway.inputs import InputError, check_content_type, media_type
from gateway.schemas import OcrRequest, TranslateOptions
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
        try:
            payload = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(400, "invalid_json", "the body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise InputError(422, "invalid_request", "the JSON body must be an object")
        return _validated(json_body, payload), None
    check_content_type(request.headers.get("content-type"))
    return _validated(options, dict(request.query_params)), await request.body()


async def read_image_request(
    request: Request, services: Services, json_body: type[TranslateOptions]
) -> tuple[TranslateOptions, bytes | None]:
    """The options and the image bytes, in whichever shape they came; the bytes are None only for an
    ``/ocr`` list (``images``), whose sources the caller reads one by one."""
    options, data = await read_body(request, TranslateOptions, json_body)
    if data is None and not (isinstance(options, OcrRequest) and options.images is not None):
        data = await image_bytes(services, getattr(options, "image", None), getattr(options, "url", None))
    return options, data
