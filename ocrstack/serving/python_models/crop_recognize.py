"""Triton python model ``crop_recognize``: probability map -> boxes, texts and scores.

DB post-processing, reading order, perspective crops and orientation routing are the shared pipeline
stages; recognition goes to the ``text_recognition_*`` models through BLS
(:class:`ocrstack.serving.python_models.recognition.BlsRecognition`). The parameter
``recognition_mode`` picks how: ``batched`` (default) or ``sequential``, the baseline that shows what
batching buys.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ocrstack.config import DEFAULT_LANGUAGE, detector_config
from ocrstack.pipeline.stages import DetectionPlan, boxes_from_detection, cut_lines, to_sent_pixels
from ocrstack.serving.python_models.recognition import BlsRecognition
from ocrstack.serving.python_models.triton_io import (
    PageResult,
    input_array,
    optional_string,
    page_response,
    string_parameter,
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
