"""Helpers shared by this project's Triton python models (they run inside the python backend stub)."""

from __future__ import annotations

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils


def string_parameter(config: dict[str, Any], key: str, default: str) -> str:
    """A ``parameters { key: ... value: { string_value: ... } }`` entry of a model config, or ``default``."""
    entry = config.get("parameters", {}).get(key)
    return default if entry is None else str(entry["string_value"])


def error_response(message: str) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))


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
