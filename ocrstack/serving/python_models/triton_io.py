"""Reading requests and writing answers, shared by this project's Triton python models (they run inside
the python backend stub)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.serving import parameters
from ocrstack.serving.errors import error_response


def string_parameter(config: dict[str, Any], key: str, default: str) -> str:
    """A ``parameters { key: ... value: { string_value: ... } }`` entry of a model config, or ``default``."""
    value = parameters.string_parameter(config.get("parameters", {}), key)
    return default if value is None else value


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


@dataclass(frozen=True)
class PageResult:
    boxes: np.ndarray  # N x 4 x 2 float32
    texts: list[str]
    scores: np.ndarray  # N float32


def page_response(page: PageResult | BaseException) -> Any:
    """The ``boxes``/``texts``/``scores`` answer, or the request's own error."""
    if isinstance(page, BaseException):
        return error_response(page)
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("boxes", page.boxes.astype(np.float32).reshape(-1, 4, 2)),
            pb_utils.Tensor("texts", np.array([t.encode("utf-8") for t in page.texts], dtype=np.object_)),
            pb_utils.Tensor("scores", page.scores.astype(np.float32)),
        ]
    )
