"""Calling the served ``ocr`` ensemble: the request contract in one place.

Input ``image`` (UINT8 [n], the encoded file bytes) and optional ``lang`` (BYTES [1]); outputs ``boxes``
(FP32 [N,4,2], original pixels), ``texts`` (BYTES [N]) and ``scores`` (FP32 [N]). Works with the
synchronous HTTP and gRPC clients of ``tritonclient``, which share this API.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

OUTPUTS = ("boxes", "texts", "scores")


@dataclass(frozen=True)
class OcrResult:
    boxes: np.ndarray  # N x 4 x 2 float32
    texts: list[str]
    scores: np.ndarray  # N float32


def ocr_inputs(protocol: ModuleType, image: bytes, lang: str | None = None) -> list[Any]:
    """``protocol`` is ``tritonclient.http``, ``tritonclient.grpc`` or ``tritonclient.grpc.aio``."""
    data = np.frombuffer(image, dtype=np.uint8)
    inputs = [protocol.InferInput("image", [data.size], "UINT8")]
    inputs[0].set_data_from_numpy(data)
    if lang is not None:
        lang_input = protocol.InferInput("lang", [1], "BYTES")
        lang_input.set_data_from_numpy(np.array([lang.encode("utf-8")], dtype=np.object_))
        inputs.append(lang_input)
    return inputs


def decode_texts(values: np.ndarray) -> list[str]:
    """A BYTES output as strings (UTF-8)."""
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


def result_from(response: Any) -> OcrResult:
    return OcrResult(
        boxes=response.as_numpy("boxes").reshape(-1, 4, 2),
        texts=decode_texts(response.as_numpy("texts")),
        scores=response.as_numpy("scores").reshape(-1),
    )


def run_ocr(
    client: Any, protocol: ModuleType, image: bytes, model: str = "ocr", lang: str | None = None
) -> OcrResult:
    outputs = [protocol.InferRequestedOutput(name) for name in OUTPUTS]
    return result_from(client.infer(model, ocr_inputs(protocol, image, lang), outputs=outputs))
