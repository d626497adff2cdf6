"""Helpers shared by this project's Triton python models (they run inside the python backend stub)."""

from __future__ import annotations

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.serving import batching


def string_parameter(config: dict[str, Any], key: str, default: str) -> str:
    """A ``parameters { key: ... value: { string_value: ... } }`` entry of a model config, or ``default``."""
    value = batching.string_parameter(config.get("parameters", {}), key)
    return default if value is None else value


def is_request_error(error: BaseException) -> bool:
    """Whether the request itself is at fault. By this project's convention a model raises ValueError
    (``ImageDecodeError``, an unknown language or orientation, a missing input) for what the client has
    to change; any other exception is the server's."""
    return isinstance(error, ValueError)


def error_response(error: BaseException) -> Any:
    """One request's error answer, with the status class the gateway maps to HTTP: ``INVALID_ARG``
    (400) for a request error, ``INTERNAL`` (502) otherwise. The message of a request error is meant
    for the client; an internal one names the exception class, for the server's log."""
    if is_request_error(error):
        return coded_error_response(str(error) or type(error).__name__, "INVALID_ARG")
    return coded_error_response(f"{type(error).__name__}: {error}", "INTERNAL")


def coded_error_response(message: str, code: str = "INVALID_ARG") -> Any:
    """A per-request error answer with a ``TritonError`` code by name: the other requests of the same
    execute still get their results."""
    # Codes came to TritonError in the 23.x python backends; an older stub gets the message alone.
    value = getattr(pb_utils.TritonError, code, None)
    error = pb_utils.TritonError(message) if value is None else pb_utils.TritonError(message, value)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)


def input_array(request: Any, name: str) -> np.ndarray:
    """A required input as numpy; ValueError when absent or empty (a client error, answered per request)."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise ValueError(f"input {name!r} is missing")
    array = tensor.as_numpy()
    if array.size == 0:
        raise ValueError(f"input {name!r} is empty")
    return array


def optional_string(request: Any, name: str) -> str | None:
    """An optional BYTES input of one element, decoded as UTF-8."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None or tensor.as_numpy().size == 0:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
