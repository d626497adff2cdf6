"""The python models' one error helper: request errors as INVALID_ARG, everything else INTERNAL."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

from ocrstack.pipeline.image_io import ImageDecodeError


class FakeTritonError:
    INTERNAL = 13
    INVALID_ARG = 3

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        self.text, self.code = message, code


class FakeResponse:
    def __init__(self, output_tensors: list, error: FakeTritonError | None = None) -> None:
        self.outputs, self.error = output_tensors, error


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    stub = types.ModuleType("triton_python_backend_utils")
    stub.TritonError = FakeTritonError  # type: ignore[attr-defined]
    stub.InferenceResponse = FakeResponse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", stub)
    monkeypatch.delitem(sys.modules, "ocrstack.serving.errors", raising=False)
    yield importlib.import_module("ocrstack.serving.errors")
    sys.modules.pop("ocrstack.serving.errors", None)


@pytest.mark.parametrize(
    "error",
    [
        ImageDecodeError("cannot decode image: 10 bytes"),
        ValueError("unsupported language 'xx'"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ],
)
def test_request_errors_are_invalid_arg(helper: types.ModuleType, error: BaseException) -> None:
    response = helper.error_response(error)
    assert response.error.code == FakeTritonError.INVALID_ARG
    assert response.error.text == str(error) and response.outputs == []


@pytest.mark.parametrize("error", [RuntimeError("onnxruntime failed"), KeyError("boxes"), IndexError("3")])
def test_other_errors_are_internal(helper: types.ModuleType, error: BaseException) -> None:
    response = helper.error_response(error)
    assert response.error.code == FakeTritonError.INTERNAL
    assert response.error.text.startswith(type(error).__name__ + ":")


def test_a_stub_without_codes_still_gets_the_message(helper: types.ModuleType, monkeypatch) -> None:
    class Plain:
        def __init__(self, message: str) -> None:
            self.text = message

    monkeypatch.setattr(helper.pb_utils, "TritonError", Plain)
    assert helper.error_response(ValueError("bad")).error.text == "bad"
