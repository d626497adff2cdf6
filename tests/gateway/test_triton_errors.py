"""Triton's errors as the gateway's HTTP statuses."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from gateway.triton import backend_error


@pytest.mark.parametrize(
    ("status", "message", "http"),
    [
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", 503),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", 504),
        ("StatusCode.INVALID_ARGUMENT", "expected number of inputs between 1 and 2", 400),
        ("StatusCode.INTERNAL", "in ensemble 'ocr', cannot decode image: 10 bytes", 400),
        ("StatusCode.INTERNAL", "in ensemble 'ocr', ValueError: unsupported language 'xx'", 400),
        ("StatusCode.INTERNAL", "RecognitionError: text_recognition_ch: onnxruntime failed", 502),
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'ocr' is not found", 503),
    ],
)
def test_status_mapping(status: str, message: str, http: int) -> None:
    assert backend_error(InferenceServerException(message, status=status)).status == http
