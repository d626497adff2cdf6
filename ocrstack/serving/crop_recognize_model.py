"""Triton python model ``crop_recognize``: probability map -> boxes, texts and scores.

DB post-processing, reading order, perspective crops and orientation routing are the shared pipeline
stages; recognition goes to the ``text_recognition_*`` models through BLS
(:class:`ocrstack.serving.recognition.BlsRecognition`). The parameter ``recognition_mode`` picks how:
``batched`` (default) or ``sequential``, the baseline that shows what batching buys.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import DEFAULT_LANGUAGE, detector_config
from ocrstack.pipeline.stages import DetectionPlan, boxes_from_detection, cut_lines, to_sent_pixels
from ocrstack.serving.python_model import error_response, input_array, optional_string, string_parameter
from ocrstack.serving.recognition import BlsRecognition


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


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.detector = detector_config(string_parameter(config, "detector", "text_detection"))
        self.default_language = string_parameter(config, "default_language", DEFAULT_LANGUAGE)
        repository = Path(args["model_repository"]).parent
        self.recognition = BlsRecognition.from_model_config(repository, config)

    async def execute(self, requests: list[Any]) -> list[Any]:
        pages = await asyncio.gather(*(self._read_page(r) for r in requests), return_exceptions=True)
        return [page_response(page) for page in pages]

    async def _read_page(self, request: Any) -> PageResult:
        image = input_array(request, "original_image")
        probability = input_array(request, "probability")
        plan = DetectionPlan.from_array(input_array(request, "detection_plan"))
        language = optional_string(request, "lang") or self.default_language
        self.recognition.models_for(language)  # an unknown language fails before any work
        quads, _ = boxes_from_detection(probability, plan, image.shape, self.detector)
        lines = cut_lines(image, quads)
        read = await self.recognition.read(lines.crops, lines.orientations, language, page=True)
        keep = read.confident
        return PageResult(
            to_sent_pixels(lines.quads[keep], plan, image.shape),
            [t for t, k in zip(read.texts, keep, strict=True) if k],
            read.scores[keep],
        )
