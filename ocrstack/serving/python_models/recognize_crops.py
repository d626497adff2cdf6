"""Triton python model ``recognize_crops``: encoded crop images -> texts, scores and orientations.

For callers that bring their own detector: input ``crops`` (BYTES [n], each an encoded image of a text
line), optional ``lang``, ``orientation`` (``auto``, the default, decides per crop by its shape as the
pipeline does; ``horizontal`` or ``vertical`` forces it) and ``layout`` (``auto``, the default, lets the
detector find the rows of text in a crop read horizontally, :mod:`ocrstack.pipeline.crop_layout`;
``line`` reads every crop whole). Vertical crops are turned on their side and read by the vertical
model where the language has one, exactly as in ``ocr``. Every crop is answered, with its confidence,
whatever its score: the caller decides what to keep.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import DEFAULT_LANGUAGE, Orientation, detector_config
from ocrstack.pipeline.crop_layout import (
    CropRows,
    bordered,
    crop_detector_config,
    text_rows,
    wants_detection,
)
from ocrstack.pipeline.image_io import decode_image
from ocrstack.pipeline.stages import ImageTooSmallError, boxes_from_detection, prepare_detection
from ocrstack.serving.errors import error_response
from ocrstack.serving.python_models.recognition import BlsRecognition
from ocrstack.serving.python_models.triton_io import input_array, optional_string, string_parameter

Readings = tuple[list[tuple[str, float]], list[Orientation]]


class DetectionError(RuntimeError):
    """The detector call failed inside the server (not the client's fault)."""


def decode_crops(encoded: np.ndarray) -> list[np.ndarray]:
    """BYTES tensor of encoded images -> BGR images; ValueError naming the first bad crop."""
    crops: list[np.ndarray] = []
    for index, data in enumerate(encoded.reshape(-1)):
        try:
            crops.append(decode_image(bytes(data)))
        except ValueError as error:
            raise ValueError(f"crop {index}: {error}") from None
    return crops


def crops_response(result: Readings | BaseException) -> Any:
    if isinstance(result, BaseException):
        return error_response(result)
    read, orientations = result
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("texts", np.array([t.encode("utf-8") for t, _ in read], dtype=np.object_)),
            pb_utils.Tensor("scores", np.array([s for _, s in read], dtype=np.float32)),
            pb_utils.Tensor("orientations", np.array([o.encode() for o in orientations], dtype=np.object_)),
        ]
    )


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.default_language = string_parameter(config, "default_language", DEFAULT_LANGUAGE)
        repository = Path(args["model_repository"]).parent
        self.recognition = BlsRecognition.from_model_config(repository, config)
        detector = detector_config(string_parameter(config, "detector", "text_detection"))
        self.detector = crop_detector_config(detector)

    async def execute(self, requests: list[Any]) -> list[Any]:
        results = await asyncio.gather(*(self._read(r) for r in requests), return_exceptions=True)
        return [crops_response(result) for result in results]

    async def _read(self, request: Any) -> Readings:
        language = optional_string(request, "lang") or self.default_language
        self.recognition.models_for(language)
        orientation = optional_string(request, "orientation") or "auto"
        layout = optional_string(request, "layout") or "auto"
        crops = decode_crops(input_array(request, "crops"))
        wanted = [wants_detection(crop, orientation, layout) for crop in crops]  # checks both options
        found = await asyncio.gather(
            *(self._text_rows(crop) if want else _nothing() for crop, want in zip(crops, wanted, strict=True))
        )
        expanded = CropRows.expand(crops, orientation, found)
        read = await self.recognition.read(expanded.rows, expanded.orientations, language)
        readings = expanded.join(list(zip(read.texts, read.scores.tolist(), strict=True)))
        return readings, expanded.crop_orientations

    async def _text_rows(self, crop: np.ndarray) -> np.ndarray | None:
        """The rows of text the detector finds in a crop, as the in-process ``OcrPipeline.read_crops``
        finds them."""
        view, border = bordered(crop)
        try:
            batch, plan = prepare_detection(view, self.detector)
        except ImageTooSmallError:
            return None
        config = self.detector
        request = pb_utils.InferenceRequest(
            model_name=config.name,
            inputs=[pb_utils.Tensor(config.input_name, batch)],
            requested_output_names=[config.output_name],
        )
        response = await request.async_exec()
        if response.has_error():
            raise DetectionError(f"{config.name}: {response.error().message()}")
        probability = pb_utils.get_output_tensor_by_name(response, config.output_name).as_numpy()
        quads, _ = boxes_from_detection(probability, plan, view.shape, config)
        return text_rows(quads - border, crop.shape)


async def _nothing() -> None:
    return None
