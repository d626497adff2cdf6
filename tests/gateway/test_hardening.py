"""Regression tests for the hardening findings of issue 20, in process: the real app, a stand-in for
Triton (these findings are all decided before or after the inference call), no network.

A finding's number is in each test's name.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from tritonclient.utils import InferenceServerException

from gateway.app import create_app
from gateway.service import Services
from gateway.settings import Settings
from gateway.translation import NoTranslator
from gateway.triton import CropReading, backend_error
from ocrstack.serving.client import OcrResult

MAX_BODY = 200_000
IMAGE_ROUTES = ("/translate_image", "/ocr", "/detection")
ALL_ROUTES = (*IMAGE_ROUTES, "/recognition")


class StandInTriton:
    """Answers like the served models, with no line found and every crop read as ``x``; or fails each
    page with ``error`` when one is set."""

    def __init__(self) -> None:
        self.error: InferenceServerException | None = None

    async def ocr(self, model: str, image: bytes, lang: str | None) -> OcrResult:
        if self.error is not None:
            raise backend_error(self.error)
        return OcrResult(np.zeros((0, 4, 2), np.float32), [], np.zeros(0, np.float32))

    async def recognize(
        self, model: str, crops: list[bytes], lang: str | None, orientation: str, layout: str = "auto"
    ) -> CropReading:
        return CropReading(["x"] * len(crops), np.ones(len(crops), np.float32), ["horizontal"] * len(crops))

    async def served_models(self) -> set[str]:
        return set()

    async def ready_models(self, models: Iterable[str]) -> dict[str, bool]:
        return dict.fromkeys(models, True)


def make_app(**overrides: Any) -> FastAPI:
    settings = Settings(max_body_bytes=MAX_BODY, translator="none", default_source_lang="en", **overrides)
    app = create_app(settings)
    # No lifespan (a test client may run it): the services it would build are put in place directly.
    app.router.lifespan_context = _no_lifespan
    app.state.services = Services(
        settings,
        StandInTriton(),
        NoTranslator(),
        httpx.AsyncClient(),
        app.state.metrics,
    )
    return app


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


def call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Finding 3: deeply nested JSON (and other JSON Python's parser cannot hold) is a 400, not a 500.
@pytest.mark.parametrize("route", ALL_ROUTES)
@pytest.mark.parametrize("body", [b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 20_000 + b"1" + b"}" * 20_000])
def test_3_deep_json_is_a_400(app: FastAPI, route: str, body: bytes) -> None:
    response = call(app, "POST", route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_json"


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_3_integer_past_the_digit_limit_is_a_400(app: FastAPI, route: str) -> None:
    body = b'{"source_lang": ' + b"9" * 5000 + b"}"
    response = call(app, "POST", route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


# Finding 4: a chunked body over the limit is a 413 on every route, whatever reads it.
MULTIPART_HEAD = (
    b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
)
BODY_HEADS = {
    "application/json": b'{"image": "',
    "image/png": b"",
    "multipart/form-data; boundary=x": MULTIPART_HEAD,
}


async def chunks(head: bytes, total: int, size: int = 16_384) -> AsyncIterator[bytes]:
    """A well-formed start, then more of the same until ``total`` bytes: only the size is wrong."""
    yield head
    sent = len(head)
    while sent < total:
        yield b"A" * size
        sent += size


@pytest.mark.parametrize("route", ALL_ROUTES)
@pytest.mark.parametrize("content_type", list(BODY_HEADS))
def test_4_chunked_body_over_the_limit_is_a_413(app: FastAPI, route: str, content_type: str) -> None:
    body = chunks(BODY_HEADS[content_type], MAX_BODY * 2)
    response = call(app, "POST", route, content=body, headers={"content-type": content_type})
    assert "content-length" not in response.request.headers
    if route == "/recognition" and content_type == "image/png":
        assert response.status_code == 415  # refused from the header, before any byte is read
        return
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "body_too_large"


def test_4_declared_length_over_the_limit_is_a_413_and_counted(app: FastAPI) -> None:
    response = call(app, "POST", "/ocr", content=b"0" * (MAX_BODY + 1), headers={"content-type": "image/png"})
    assert response.status_code == 413
    metrics = call(app, "GET", "/metrics").text
    assert 'status="413"' in metrics


# Finding 7: options a route does not use are refused; empty lists too; /recognition takes multipart.
@pytest.mark.parametrize(
    ("route", "field"),
    [
        ("/ocr", "target_lang"),
        ("/ocr", "render"),
        ("/detection", "target_lang"),
        ("/detection", "render"),
        ("/detection", "source_lang"),
    ],
)
def test_7_unused_options_are_refused(app: FastAPI, png: bytes, route: str, field: str) -> None:
    value = "true" if field == "render" else "en"
    as_json = call(app, "POST", route, json={"image": b64(png), field: value})
    assert as_json.status_code == 422, as_json.text
    as_form = call(app, "POST", route, files={"file": ("a.png", png, "image/png")}, data={field: value})
    assert as_form.status_code == 422, as_form.text
    as_query = call(
        app, "POST", f"{route}?{field}={value}", content=png, headers={"content-type": "image/png"}
    )
    assert as_query.status_code == 422, as_query.text


def test_7_translate_image_still_takes_its_options(app: FastAPI, png: bytes) -> None:
    response = call(
        app, "POST", "/translate_image", json={"image": b64(png), "target_lang": "ko", "render": True}
    )
    assert response.status_code == 200, response.text


def test_7_empty_image_list_is_refused(app: FastAPI) -> None:
    response = call(app, "POST", "/ocr", json={"images": []})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_7_recognition_takes_json_only_as_json(app: FastAPI, png: bytes, content_type: str) -> None:
    body = b'{"crops": ["' + b64(png).encode() + b'"]}'
    response = call(app, "POST", "/recognition", content=body, headers={"content-type": content_type})
    assert response.status_code == 415, response.text


def test_7_recognition_takes_multipart(app: FastAPI, png: bytes) -> None:
    files = [("file", ("a.png", png, "image/png")), ("file", ("b.png", png, "image/png"))]
    response = call(app, "POST", "/recognition", files=files, data={"source_lang": "en"})
    assert response.status_code == 200, response.text
    assert [r["text"] for r in response.json()["results"]] == ["x", "x"]
    json_body = call(app, "POST", "/recognition", json={"crops": [b64(png)], "orientation": "horizontal"})
    assert json_body.status_code == 200, json_body.text
    unknown = call(app, "POST", "/recognition", files=files, data={"target_lang": "en"})
    assert unknown.status_code == 422, unknown.text


# Finding 8: every reference in the OpenAPI document resolves, and each JSON body names its schema.
def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_8_openapi_references_resolve(app: FastAPI) -> None:
    document = call(app, "GET", "/openapi.json").json()
    schemas = document["components"]["schemas"]
    found = set(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    expected = {
        "/translate_image": "TranslateRequest",
        "/ocr": "OcrRequest",
        "/detection": "DetectionRequest",
        "/recognition": "RecognitionRequest",
    }
    for route, name in expected.items():
        body = document["paths"][route]["post"]["requestBody"]["content"]
        assert body["application/json"]["schema"]["$ref"].endswith("/" + name)
        assert "multipart/form-data" in body
    assert "images" in schemas["OcrRequest"]["properties"] and "ImageSource" in schemas


# Finding 5: statuses by class across the Triton boundary; a truncated JPEG is corrupt_image.
@pytest.fixture
def failing_app() -> FastAPI:
    return make_app()


def jpeg() -> bytes:
    image = np.full((60, 200, 3), 230, np.uint8)
    cv2.putText(image, "hello", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_5_truncated_jpeg_is_corrupt_image(failing_app: FastAPI) -> None:
    failing_app.state.services.triton.error = InferenceServerException(
        "in ensemble 'ocr', cannot decode image: 300 bytes", "StatusCode.INVALID_ARGUMENT"
    )
    whole = jpeg()
    truncated = whole[: len(whole) * 2 // 3]  # a sound header, pixel data cut short
    for route in ("/ocr", "/translate_image"):
        response = call(failing_app, "POST", route, content=truncated, headers={"content-type": "image/jpeg"})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "corrupt_image" and "ensemble" not in response.text


def test_5_server_failure_is_502_without_internal_detail(failing_app: FastAPI, png: bytes) -> None:
    failing_app.state.services.triton.error = InferenceServerException(
        "in ensemble 'ocr', RecognitionError: crop_recognize: shapes differ", "StatusCode.INTERNAL"
    )
    response = call(failing_app, "POST", "/ocr", content=png, headers={"content-type": "image/png"})
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "backend" and "crop_recognize" not in response.text
