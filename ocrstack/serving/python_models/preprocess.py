"""Triton python model ``preprocess``: encoded image bytes -> the detector's input.

Outputs the normalised detector input, the decoded image (the crops are cut from it) and the detection
plan that maps the probability map back onto it. An image larger than the working size
(:func:`~ocrstack.pipeline.stages.working_side`) is brought down to it while decoding, so the arrays that
travel on are bounded whatever was sent; the plan carries the size as sent, which boxes are answered in.
A request whose bytes are not a usable image gets its own error; the others in the same call are
unaffected.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import detector_config
from ocrstack.pipeline.image_io import decode_working_image
from ocrstack.pipeline.stages import prepare_detection, working_side
from ocrstack.serving.errors import error_response
from ocrstack.serving.python_models.triton_io import input_array, string_parameter


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.detector = detector_config(string_parameter(config, "detector", "text_detection"))
        self.max_side = working_side(self.detector)

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._respond(request) for request in requests]

    def _respond(self, request: Any) -> Any:
        try:
            data = input_array(request, "image")
            image = decode_working_image(data.tobytes(), self.max_side)
            batch, plan = prepare_detection(image.pixels, self.detector, (image.height, image.width))
        except Exception as error:  # per request; a ValueError (undecodable, too small) is the client's
            return error_response(error)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("detection_input", batch),
                pb_utils.Tensor("original_image", np.ascontiguousarray(image.pixels)),
                pb_utils.Tensor("detection_plan", plan.as_array()),
            ]
        )
