"""Triton's errors as the gateway's HTTP statuses: by status code alone, never by message text."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from gateway.triton import backend_error


@pytest.mark.parametrize(
    ("status", "message", "http"),
    [
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", 503),
        (None, "failed to connect to all addresses", 503),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", 504),
        ("StatusCode.INVALID_ARGUMENT", "expected number of inputs between 1 and 2", 400),
        ("StatusCode.INVALID_ARGUMENT", "in ensemble 'ocr', cannot decode image: 10 bytes", 400),
        ("StatusCode.INVALID_ARGUMENT", "in ensemble 'ocr', unsupported language 'xx'", 400),
        # A server bug is the server's, whatever its message says.
        ("StatusCode.INTERNAL", "in ensemble 'ocr', ValueError: cannot decode image", 502),
        ("StatusCode.INTERNAL", "RecognitionError: text_recognition_ch: onnxruntime failed", 502),
        ("StatusCode.INTERNAL", "failed to connect; Deadline Exceeded; not found", 502),
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'ocr' is not found", 503),
    ],
)
def test_status_mapping(status: str | None, message: str, http: int) -> None:
    assert backend_error(InferenceServerException(message, status=status)).status == http


def test_request_errors_show_no_internal_names() -> None:
    error = backend_error(
        InferenceServerException(
            "in ensemble 'ocr', cannot decode image: 10 bytes", "StatusCode.INVALID_ARGUMENT"
        )
    )
    assert "ensemble" not in error.message and "cannot decode image" in error.message
    internal = backend_error(
        InferenceServerException("KeyError: crop_recognize boxes", "StatusCode.INTERNAL")
    )
    assert "crop_recognize" not in internal.message and internal.kind == "backend"
