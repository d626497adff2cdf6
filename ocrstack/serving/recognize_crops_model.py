"""Triton python model ``recognize_crops``: encoded crop images -> texts, scores and orientations.

For callers that bring their own detector: input ``crops`` (BYTES [n], each an encoded image of one text
line), optional ``lang`` and ``orientation`` (``auto``, the default, decides per crop by its shape as the
pipeline does; ``horizontal`` or ``vertical`` forces it). Vertical crops are turned on their side and read
by the vertical model where the language has one, exactly as in ``ocr``. Every crop is answered, with
its confidence, whatever its score: the caller decides what to keep.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import DEFAULT_LANGUAGE, Orientation
from ocrstack.pipeline.geometry import is_vertical, rotate_to_horizontal
from ocrstack.pipeline.image_io import decode_image
from ocrstack.serving.python_model import error_response, input_array, optional_string, string_parameter
from ocrstack.serving.recognition import BlsRecognition, ReadCrops

ORIENTATIONS = ("auto", "horizontal", "vertical")


def lay_out(crop: np.ndarray, orientation: str) -> tuple[np.ndarray, Orientation]:
    """A decoded crop as a row for the recognizers, and the orientation it was read in."""
    vertical = is_vertical(*crop.shape[:2]) if orientation == "auto" else orientation == "vertical"
    return (rotate_to_horizontal(crop), "vertical") if vertical else (crop, "horizontal")


def decode_crops(encoded: np.ndarray, orientation: str) -> tuple[list[np.ndarray], list[Orientation]]:
    """BYTES tensor of encoded images -> rows and orientations; ValueError naming the first bad crop."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
    rows: list[np.ndarray] = []
    orientations: list[Orientation] = []
    for index, data in enumerate(encoded.reshape(-1)):
        try:
            crop = decode_image(bytes(data))
        except ValueError as error:
            raise ValueError(f"crop {index}: {error}") from None
        row, read_as = lay_out(crop, orientation)
        rows.append(row)
        orientations.append(read_as)
    return rows, orientations


def crops_response(result: tuple[ReadCrops, list[Orientation]] | BaseException) -> Any:
    if isinstance(result, BaseException):
        return error_response(result)
    read, orientations = result
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("texts", np.array([t.encode("utf-8") for t in read.texts], dtype=np.object_)),
            pb_utils.Tensor("scores", read.scores.astype(np.float32)),
            pb_utils.Tensor("orientations", np.array([o.encode() for o in orientations], dtype=np.object_)),
        ]
    )


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.default_language = string_parameter(config, "default_language", DEFAULT_LANGUAGE)
        repository = Path(args["model_repository"]).parent
        self.recognition = BlsRecognition(repository, string_parameter(config, "recognition_mode", "batched"))

    async def execute(self, requests: list[Any]) -> list[Any]:
        results = await asyncio.gather(*(self._read(r) for r in requests), return_exceptions=True)
        return [crops_response(result) for result in results]

    async def _read(self, request: Any) -> tuple[ReadCrops, list[Orientation]]:
        language = optional_string(request, "lang") or self.default_language
        self.recognition.models_for(language)
        rows, orientations = decode_crops(
            input_array(request, "crops"), optional_string(request, "orientation") or "auto"
        )
        return await self.recognition.read(rows, orientations, language), orientations
