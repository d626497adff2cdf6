"""Schemathesis with all its checks against the app in process (stand-in Triton), every route, each
body media type, positive and negative data: no 5xx, no answer that contradicts the OpenAPI document.

``positive_data_acceptance`` is the one check run looser: a schema-valid body can still hold a string
that is not an image (no JSON schema can say "base64 of a PNG"), a URL that cannot be fetched or a
language pair no translator has, an image in a format not decoded here (GIF), so schema-valid requests
may be refused with 400, 413, 415 or 422 as well. The live counterpart is ``test_openapi_fuzz.py``
(slow, real Triton).
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.gateway.test_hardening import make_app
from tests.gateway.test_openapi_fuzz import readable_operations

EXAMPLES = 60
# Not an image, over the limits, a GIF, an unfetchable URL, an unsupported pair: past the schema.
REFUSED_POSITIVE = {400, 413, 415, 422}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return make_app()


def operations(app: FastAPI) -> list:
    return readable_operations(schemathesis.openapi.from_asgi("/openapi.json", app))


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_every_operation_keeps_to_its_schema(app: FastAPI, mode: GenerationMode) -> None:
    checked = []
    for operation in operations(app):
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # nothing to get wrong: /healthz, /readyz, /metrics take no input
        media_types = [None]
        if operation.body:
            media_types = sorted({body.media_type for body in operation.body})

        for media_type in media_types:

            @given(case=operation.as_strategy(generation_mode=mode, media_type=media_type))
            @settings(
                max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
            )
            def call(case) -> None:
                # Both acceptance checks are run here, with the statuses this gateway uses: schemathesis'
                # own negative check does not count 413, which a schema-violating body over the size
                # limit rightly gets.
                response = case.call_and_validate(
                    excluded_checks=[positive_data_acceptance, negative_data_rejection]
                )
                if mode is GenerationMode.NEGATIVE:
                    assert 400 <= response.status_code < 500, (
                        case.as_curl_command(),
                        response.status_code,
                        response.text[:300],
                    )
                if mode is GenerationMode.POSITIVE:
                    assert response.status_code < 300 or response.status_code in REFUSED_POSITIVE, (
                        case.as_curl_command(),
                        response.status_code,
                        response.text[:300],
                    )

            call()
            checked.append((operation.label, media_type))
    labels = {label for label, _ in checked}
    assert {"POST /translate_image", "POST /ocr", "POST /detection", "POST /recognition"} <= labels
    assert ("POST /ocr", "application/json") in checked and (
        "POST /recognition",
        "multipart/form-data",
    ) in checked
