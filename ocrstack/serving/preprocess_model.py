"""Triton python model ``preprocess``: encoded image bytes -> the detector's input.

Outputs the normalised detector input, the decoded image (the crops are cut from it at full
resolution) and the detection plan that maps the probability map back onto it. A request whose bytes
are not a usable image gets its own error; the others in the same call are unaffected.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import detector_config
from ocrstack.pipeline import decode_image
from ocrstack.pipeline.stages import prepare_detection
from ocrstack.serving.python_model import error_response, input_array, string_parameter


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.detector = detector_config(string_parameter(config, "detector", "text_detection"))

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._respond(request) for request in requests]

    def _respond(self, request: Any) -> Any:
        try:
            data = input_array(request, "image")
            image = decode_image(data.tobytes())
            batch, plan = prepare_detection(image, self.detector)
        except Exception as error:  # per request; a ValueError (undecodable, too small) is the client's
            return error_response(error)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("detection_input", batch),
                pb_utils.Tensor("original_image", np.ascontiguousarray(image)),
                pb_utils.Tensor("detection_plan", plan.as_array()),
            ]
        )
