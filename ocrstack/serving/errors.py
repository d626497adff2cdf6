"""Per-request error answers of every model this project runs in Triton's python backend (the python
models and the embedded onnxruntime backend): one failing request does not fail the others of an execute."""

from __future__ import annotations

from typing import Any

import triton_python_backend_utils as pb_utils


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
