"""The in-process reference pipeline: detect, order, crop, route by orientation, recognise, filter.

It runs any :class:`~ocrstack.engine.InferenceEngine`, needs no Triton and no torch, and is the
behaviour the served pipeline is tested against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrstack.config import DetectorConfig, Orientation, RecognizerConfig
from ocrstack.engine import InferenceEngine, OnnxRuntimeEngine
from ocrstack.pipeline.crop_layout import (
    CropRows,
    bordered,
    crop_detector_config,
    text_rows,
    wants_detection,
)
from ocrstack.pipeline.ctc import best_path, charset_from_model_metadata, decode_best_path
from ocrstack.pipeline.mixed_script import keep_better, lines_to_read_again
from ocrstack.pipeline.preprocess import recognition_batch
from ocrstack.pipeline.stages import (
    ImageTooSmallError,
    boxes_from_detection,
    cut_lines,
    in_crop_order,
    prepare_detection,
    recognition_chunks,
    route,
)
from ocrstack.pipeline.word_spaces import rule_for


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

    def best_path(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """N x T winning classes and their probabilities: from the graph's own outputs when it has them
        (our exports), else taken from the probabilities (the original rapidocr files)."""
        cfg = self.config
        compact = [cfg.classes_output, cfg.class_scores_output]
        if set(compact) <= set(self.engine.output_names):
            outputs = self.engine.run({cfg.input_name: batch}, compact)
            return outputs[cfg.classes_output], outputs[cfg.class_scores_output]
        return best_path(run_model(self.engine, cfg.input_name, cfg.output_name, batch))


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
        second_reader: Recognizer | None = None,
    ) -> None:
        """``recognizers`` needs "horizontal"; vertical crops are turned 90 degrees counter-clockwise
        (top of the column to the left) and read by the "vertical" recognizer, or without one by the
        horizontal model, as the peer does. ``min_text_score`` and ``rec_batch_size`` default to each
        recognizer's ``min_score`` and ``batch_size``. ``second_reader`` checks the lines of the
        recognizers whose record names it as their ``second_reader`` (:mod:`.mixed_script`)."""
        if "horizontal" not in recognizers:
            raise ValueError("a horizontal recognizer is required")
        self.detector = detector
        self.det_cfg = det_cfg
        self.recognizers = dict(recognizers)
        self.min_text_score = min_text_score
        self.rec_batch_size = rec_batch_size
        self.second_reader = second_reader

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
        second_reader: tuple[str | Path, RecognizerConfig] | None = None,
    ) -> OcrPipeline:
        """Build on ONNX Runtime (``threads`` intra-op threads per session, 0: all cores); charsets
        come from each recognition model's metadata. ``second_reader``: (ONNX file, record)."""
        detector = OnnxRuntimeEngine(detector_path, intra_op_threads=threads)
        recognizers = {
            orientation: Recognizer.from_engine(
                OnnxRuntimeEngine(path, intra_op_threads=threads), rec_cfgs[orientation]
            )
            for orientation, path in recognizer_paths.items()
        }
        second = None
        if second_reader is not None:
            path, config = second_reader
            second = Recognizer.from_engine(OnnxRuntimeEngine(path, intra_op_threads=threads), config)
        return cls(detector, det_cfg, recognizers, min_text_score, rec_batch_size, second)

    def __call__(self, image_bgr: np.ndarray) -> list[TextLine]:
        """Every line read with enough confidence, in reading order."""
        quads, _ = self.detect(image_bgr)
        lines = cut_lines(image_bgr, quads)
        results = self._read(lines.crops, lines.orientations, page=True)
        read = [
            TextLine(quad, text, score, orientation)
            for quad, (text, score), orientation in zip(lines.quads, results, lines.orientations, strict=True)
        ]
        return [line for line in read if line.score >= self._min_score(line.orientation)]

    def detect(
        self, image_bgr: np.ndarray, config: DetectorConfig | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Quads (N x 4 x 2 float32, tl/tr/br/bl, original pixels) and their detection scores;
        ``config`` overrides the detector's record (the working size for crops)."""
        cfg = config or self.det_cfg
        batch, plan = prepare_detection(image_bgr, cfg)
        prob = run_model(self.detector, cfg.input_name, cfg.output_name, batch)
        return boxes_from_detection(prob, plan, image_bgr.shape, cfg)

    def read_crops(
        self, crops: Sequence[np.ndarray], orientation: str = "auto", layout: str = "auto"
    ) -> list[tuple[str, float, Orientation]]:
        """(text, score, orientation read in) for crops a caller cut, as ``recognize_crops`` serves
        them: ``orientation`` ``auto`` decides per crop by its shape; ``layout`` ``auto`` lets the
        detector find the rows of text in a crop read horizontally (:mod:`.crop_layout`), ``line``
        reads every crop whole."""
        found = [self._text_rows(c) if wants_detection(c, orientation, layout) else None for c in crops]
        expanded = CropRows.expand(crops, orientation, found)
        read = expanded.join(self._read(expanded.rows, expanded.orientations))
        return [(t, s, o) for (t, s), o in zip(read, expanded.crop_orientations, strict=True)]

    def _text_rows(self, crop: np.ndarray) -> np.ndarray | None:
        view, border = bordered(crop)
        try:
            quads, _ = self.detect(view, crop_detector_config(self.det_cfg))
        except ImageTooSmallError:
            return None
        return text_rows(quads - border, crop.shape)

    def recognize(
        self, crops: Sequence[np.ndarray], orientation: Orientation = "horizontal", floor: float = 0.0
    ) -> list[tuple[str, float]]:
        """Read crops, already laid out as rows, with the recognizer for ``orientation``: crops of one
        width bucket are batched together, at most ``rec_batch_size`` per call. Results come back in
        the crops' order. ``floor``: the score below which a page drops a line (:mod:`.mixed_script`)."""
        recognizer = self.recognizers[orientation]
        results = self._recognize_with(recognizer, crops)
        second = self.second_reader
        if second is None or second.config.name != recognizer.config.second_reader:
            return results
        again = lines_to_read_again(results, recognizer.config, floor)
        keep_better(results, again, self._recognize_with(second, [crops[i] for i in again]))
        return results

    def _recognize_with(self, recognizer: Recognizer, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        cfg = recognizer.config
        chunks = recognition_chunks(crops, cfg, self.rec_batch_size or cfg.batch_size)
        word_spaces = rule_for(cfg)
        read: list[list[tuple[str, float]]] = []
        for width, chunk in chunks:
            classes, scores = recognizer.best_path(recognition_batch([crops[i] for i in chunk], cfg, width))
            read.append(decode_best_path(classes, scores, recognizer.charset, word_spaces))
        return in_crop_order(chunks, read, len(crops))

    def _read(
        self, crops: list[np.ndarray], orientations: list[Orientation], page: bool = False
    ) -> list[tuple[str, float]]:
        """Route each crop (vertical ones already turned on their side) to its orientation's
        recognizer, or to the horizontal one when there is no other; ``page``: the lines of a page,
        which drops those read below its threshold."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for orientation, indices in route(orientations, list(self.recognizers)).items():
            floor = self._min_score(orientation) if page else 0.0
            read = self.recognize([crops[i] for i in indices], orientation, floor)
            for index, result in zip(indices, read, strict=True):
                results[index] = result
        return results

    def _min_score(self, orientation: Orientation) -> float:
        if self.min_text_score is not None:
            return self.min_text_score
        recognizer = self.recognizers.get(orientation, self.recognizers["horizontal"])
        return recognizer.config.min_score
