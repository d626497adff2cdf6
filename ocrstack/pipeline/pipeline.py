"""The in-process reference pipeline: detect, order, crop, route by orientation, recognise, filter.

It runs any :class:`~ocrstack.engine.InferenceEngine`, needs no Triton and no torch, and is the
behaviour the served pipeline is tested against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrstack.config import DetectorConfig, Orientation, RecognizerConfig
from ocrstack.engine import InferenceEngine, OnnxRuntimeEngine
from ocrstack.pipeline.ctc import charset_from_model_metadata, ctc_greedy_decode
from ocrstack.pipeline.db_postprocess import boxes_from_probability_map
from ocrstack.pipeline.geometry import clip_quads, crop_quad, is_vertical, quad_size, rotate_to_horizontal
from ocrstack.pipeline.preprocess import (
    choose_width_bucket,
    detection_input,
    pad_for_detection,
    recognition_batch,
)
from ocrstack.pipeline.reading_order import reading_order


@dataclass
class TextLine:
    box: np.ndarray  # float32 4 x 2, tl/tr/br/bl in original image pixels
    text: str
    score: float  # mean CTC confidence of the kept characters
    orientation: Orientation


@dataclass(frozen=True)
class Recognizer:
    """A recognition engine with its config record and charset (class i >= 1 reads charset[i - 1])."""

    engine: InferenceEngine
    config: RecognizerConfig
    charset: tuple[str, ...]

    @classmethod
    def from_engine(cls, engine: InferenceEngine, config: RecognizerConfig) -> Recognizer:
        """Charset read from the model's own metadata."""
        return cls(engine, config, tuple(charset_from_model_metadata(engine.metadata, config.use_space_char)))


def run_model(engine: InferenceEngine, input_name: str, output_name: str, batch: np.ndarray) -> np.ndarray:
    """Run a one-input model by the config's tensor names, or by its only names where the file uses
    others (the original rapidocr files call their input "x")."""
    if input_name not in engine.input_names:
        (input_name,) = engine.input_names
    outputs = engine.run({input_name: batch})
    return outputs[output_name] if output_name in outputs else outputs[engine.output_names[0]]


class OcrPipeline:
    """Image -> text lines, in process. Holds engines and config only (no per-call state), so one
    instance may serve concurrent callers when its engines allow it."""

    def __init__(
        self,
        detector: InferenceEngine,
        det_cfg: DetectorConfig,
        recognizers: Mapping[Orientation, Recognizer],
        min_text_score: float | None = None,
        rec_batch_size: int | None = None,
    ) -> None:
        """``recognizers`` needs "horizontal"; vertical crops are turned 90 degrees counter-clockwise
        (top of the column to the left) and read by the "vertical" recognizer, or without one by the
        horizontal model, as the peer does. ``min_text_score`` and ``rec_batch_size`` default to each
        recognizer's ``min_score`` and ``batch_size``."""
        if "horizontal" not in recognizers:
            raise ValueError("a horizontal recognizer is required")
        self.detector = detector
        self.det_cfg = det_cfg
        self.recognizers = dict(recognizers)
        self.min_text_score = min_text_score
        self.rec_batch_size = rec_batch_size

    @classmethod
    def from_onnx(
        cls,
        detector_path: str | Path,
        recognizer_paths: Mapping[Orientation, str | Path],
        det_cfg: DetectorConfig,
        rec_cfgs: Mapping[Orientation, RecognizerConfig],
        threads: int = 0,
        min_text_score: float | None = None,
        rec_batch_size: int | None = None,
    ) -> OcrPipeline:
        """Build on ONNX Runtime (``threads`` intra-op threads per session, 0: all cores); charsets
        come from each recognition model's metadata."""
        detector = OnnxRuntimeEngine(detector_path, intra_op_threads=threads)
        recognizers = {
            orientation: Recognizer.from_engine(
                OnnxRuntimeEngine(path, intra_op_threads=threads), rec_cfgs[orientation]
            )
            for orientation, path in recognizer_paths.items()
        }
        return cls(detector, det_cfg, recognizers, min_text_score, rec_batch_size)

    def __call__(self, image_bgr: np.ndarray) -> list[TextLine]:
        """Every line read with enough confidence, in reading order."""
        quads, _ = self.detect(image_bgr)
        quads = quads[reading_order(quads)]
        crops = [crop_quad(image_bgr, quad) for quad in quads]
        orientations: list[Orientation] = [
            "vertical" if is_vertical(*crop.shape[:2]) else "horizontal" for crop in crops
        ]
        results = self._read(crops, orientations)
        lines = [
            TextLine(quad, text, score, orientation)
            for quad, (text, score), orientation in zip(quads, results, orientations, strict=True)
        ]
        return [line for line in lines if line.score >= self._min_score(line.orientation)]

    def detect(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quads (N x 4 x 2 float32, tl/tr/br/bl, original pixels) and their detection scores."""
        padded, top = pad_for_detection(image_bgr, self.det_cfg)
        batch, _ = detection_input(padded, self.det_cfg)
        prob = run_model(self.detector, self.det_cfg.input_name, self.det_cfg.output_name, batch)
        padded_size = (padded.shape[0], padded.shape[1])
        prob_map = prob.reshape(prob.shape[-2:])  # 1 x 1 x H x W, or 1 x H x W from some exporters
        quads, scores = boxes_from_probability_map(prob_map, self.det_cfg.postprocess, padded_size)
        if top == 0:
            return quads, scores
        quads[..., 1] -= top
        quads = clip_quads(quads, *image_bgr.shape[:2])
        # A box that lay mostly in the bands is a sliver of the image now.
        keep = np.array([min(quad_size(q)) > self.det_cfg.postprocess.min_size for q in quads], dtype=bool)
        return quads[keep], scores[keep]

    def recognize(
        self, crops: Sequence[np.ndarray], orientation: Orientation = "horizontal"
    ) -> list[tuple[str, float]]:
        """Read crops, already laid out as rows, with the recognizer for ``orientation``: crops of one
        width bucket are batched together, at most ``rec_batch_size`` per call. Results come back in
        the crops' order."""
        recognizer = self.recognizers[orientation]
        cfg = recognizer.config
        batch_size = self.rec_batch_size or cfg.batch_size
        by_bucket: dict[int, list[int]] = defaultdict(list)
        for index, crop in enumerate(crops):
            by_bucket[choose_width_bucket(crop.shape[0], crop.shape[1], cfg)].append(index)
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for width, indices in by_bucket.items():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                batch = recognition_batch([crops[i] for i in chunk], cfg, width)
                probs = run_model(recognizer.engine, cfg.input_name, cfg.output_name, batch)
                for index, result in zip(chunk, ctc_greedy_decode(probs, recognizer.charset), strict=True):
                    results[index] = result
        return results

    def _read(self, crops: list[np.ndarray], orientations: list[Orientation]) -> list[tuple[str, float]]:
        """Route each crop to its orientation's recognizer (the horizontal one when there is no other).

        Vertical crops are always turned 90 degrees counter-clockwise first, so that every recognizer
        takes the same input layout (``height`` rows, width buckets): a vertical model is one trained
        on columns turned that way, whose glyphs lie on their side.
        """
        groups: dict[Orientation, list[int]] = defaultdict(list)
        inputs = list(crops)
        for index, orientation in enumerate(orientations):
            if orientation == "vertical":
                inputs[index] = rotate_to_horizontal(crops[index])
            groups[orientation if orientation in self.recognizers else "horizontal"].append(index)
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for orientation, indices in groups.items():
            read = self.recognize([inputs[i] for i in indices], orientation)
            for index, result in zip(indices, read, strict=True):
                results[index] = result
        return results

    def _min_score(self, orientation: Orientation) -> float:
        if self.min_text_score is not None:
            return self.min_text_score
        recognizer = self.recognizers.get(orientation, self.recognizers["horizontal"])
        return recognizer.config.min_score
