"""Triton python model ``crop_recognize``: probability map -> boxes, texts and scores.

DB post-processing, reading order, perspective crops and orientation routing are the shared pipeline
stages; recognition goes to the ``text_recognition_*`` models through BLS. The parameter
``recognition_mode`` picks how:

- ``batched`` (default): crops are grouped by width bucket and sent in chunks of the recognizer's
  preferred batch size (never more than its ``max_batch_size``), all chunks in flight at once, so that
  Triton's dynamic batcher can also merge them with other requests' chunks;
- ``sequential``: one crop per request, each awaited before the next: the baseline that shows what
  batching buys.

Which recognizers exist is read from the repository at load time, and each request's optional ``lang``
input picks among them by their config records' languages.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import DEFAULT_LANGUAGE, RECOGNIZERS, RecognizerConfig, detector_config, recognizers_for
from ocrstack.pipeline import charset_from_model_metadata, decode_best_path, recognition_batch
from ocrstack.pipeline.stages import (
    DetectionPlan,
    boxes_from_detection,
    cut_lines,
    recognition_chunks,
    route,
)
from ocrstack.serving.python_model import error_response, input_array, optional_string, string_parameter
from ocrstack.serving.repository import model_names, onnx_metadata, read_model_config

MODES = ("batched", "sequential")


class RecognitionError(RuntimeError):
    """A recognizer call failed inside the server (not the client's fault)."""


@dataclass(frozen=True)
class ServedRecognizer:
    config: RecognizerConfig
    charset: tuple[str, ...]
    chunk_size: int  # crops per request in batched mode, at the narrowest width bucket

    @classmethod
    def load(cls, model_dir: Path) -> ServedRecognizer:
        """Read the recognizer's charset from its ONNX file and its chunk size from its Triton config:
        the largest ``preferred_batch_size`` (the batch it runs best at), else its ``max_batch_size``."""
        config = RECOGNIZERS[model_dir.name]
        charset = charset_from_model_metadata(onnx_metadata(model_dir), config.use_space_char)
        triton_config = read_model_config(model_dir)
        preferred = list(triton_config.dynamic_batching.preferred_batch_size)
        chunk = max(preferred) if preferred else triton_config.max_batch_size
        return cls(config, tuple(charset), max(1, min(chunk, triton_config.max_batch_size or chunk)))


@dataclass(frozen=True)
class PageResult:
    boxes: np.ndarray  # N x 4 x 2 float32
    texts: list[str]
    scores: np.ndarray  # N float32


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.mode = string_parameter(config, "recognition_mode", "batched")
        if self.mode not in MODES:
            raise ValueError(f"recognition_mode must be one of {MODES}, not {self.mode!r}")
        self.detector = detector_config(string_parameter(config, "detector", "text_detection"))
        self.default_language = string_parameter(config, "default_language", DEFAULT_LANGUAGE)
        repository = Path(args["model_repository"]).parent
        names = model_names(repository) & set(RECOGNIZERS)
        self.recognizers = {name: ServedRecognizer.load(repository / name) for name in sorted(names)}

    async def execute(self, requests: list[Any]) -> list[Any]:
        pages = await asyncio.gather(*(self._read_page(r) for r in requests), return_exceptions=True)
        return [self._response(page) for page in pages]

    def _response(self, page: PageResult | BaseException) -> Any:
        if isinstance(page, BaseException):
            return error_response(f"{type(page).__name__}: {page}")
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("boxes", page.boxes.astype(np.float32).reshape(-1, 4, 2)),
                pb_utils.Tensor("texts", np.array([t.encode("utf-8") for t in page.texts], dtype=np.object_)),
                pb_utils.Tensor("scores", page.scores.astype(np.float32)),
            ]
        )

    async def _read_page(self, request: Any) -> PageResult:
        image = input_array(request, "original_image")
        probability = input_array(request, "probability")
        plan = DetectionPlan.from_array(input_array(request, "detection_plan"))
        language = optional_string(request, "lang") or self.default_language
        try:
            models = recognizers_for(language, set(self.recognizers))
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        quads, _ = boxes_from_detection(probability, plan, image.shape, self.detector)
        lines = cut_lines(image, quads)
        texts: list[str] = [""] * len(lines.crops)
        scores = np.zeros(len(lines.crops), np.float32)
        keep = np.zeros(len(lines.crops), bool)
        for orientation, indices in route(lines.orientations, list(models)).items():
            served = self.recognizers[models[orientation]]
            read = await self._recognize(served, [lines.crops[i] for i in indices])
            for index, (text, score) in zip(indices, read, strict=True):
                texts[index], scores[index] = text, score
                keep[index] = score >= served.config.min_score
        return PageResult(lines.quads[keep], [t for t, k in zip(texts, keep, strict=True) if k], scores[keep])

    async def _recognize(self, served: ServedRecognizer, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        sequential = self.mode == "sequential"
        if sequential:
            chunks = recognition_chunks(crops, served.config, 1)
        else:
            budget = served.chunk_size * served.config.width_buckets[0]
            chunks = recognition_chunks(crops, served.config, served.chunk_size, max_total_width=budget)
        batches = [recognition_batch([crops[i] for i in chunk], served.config, w) for w, chunk in chunks]
        if sequential:
            outputs = [await self._infer(served, batch) for batch in batches]
        else:
            outputs = list(await asyncio.gather(*(self._infer(served, batch) for batch in batches)))
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for (_, chunk), (classes, scores) in zip(chunks, outputs, strict=True):
            for index, result in zip(chunk, decode_best_path(classes, scores, served.charset), strict=True):
                results[index] = result
        return results

    async def _infer(self, served: ServedRecognizer, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best path (N x T classes and their probabilities) for one batch of crops."""
        config = served.config
        request = pb_utils.InferenceRequest(
            model_name=config.name,
            inputs=[pb_utils.Tensor(config.input_name, batch)],
            requested_output_names=[config.classes_output, config.class_scores_output],
        )
        response = await request.async_exec()
        if response.has_error():
            raise RecognitionError(f"{config.name}: {response.error().message()}")
        classes = pb_utils.get_output_tensor_by_name(response, config.classes_output).as_numpy()
        scores = pb_utils.get_output_tensor_by_name(response, config.class_scores_output).as_numpy()
        return classes, scores
