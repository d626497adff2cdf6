"""Triton python model ``detect_boxes``: probability map -> line boxes in reading order, no recognition.

The last step of the ``detection`` ensemble, for callers that bring their own recognizer. ``scores`` are
the detector's box scores (mean probability inside each box); ``texts`` is empty, so the answer keeps
the ``ocr`` contract's shape.
"""

from __future__ import annotations

import json
from typing import Any

from ocrstack.config import detector_config
from ocrstack.pipeline.reading_order import reading_order
from ocrstack.pipeline.stages import DetectionPlan, boxes_from_detection, to_sent_pixels
from ocrstack.serving.python_models.triton_io import PageResult, input_array, page_response, string_parameter


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.detector = detector_config(string_parameter(config, "detector", "text_detection"))

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(page_response(self._boxes(request)))
            except Exception as error:  # answered per request: the others of the batch still succeed
                responses.append(page_response(error))
        return responses

    def _boxes(self, request: Any) -> PageResult:
        image = input_array(request, "original_image")
        probability = input_array(request, "probability")
        plan = DetectionPlan.from_array(input_array(request, "detection_plan"))
        quads, scores = boxes_from_detection(probability, plan, image.shape, self.detector)
        order = reading_order(quads) if len(quads) else []
        return PageResult(to_sent_pixels(quads[order], plan, image.shape), [], scores[order])
