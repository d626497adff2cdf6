"""Our PyTorch modules with imported weights against the original PP-OCRv4 ONNX files.

These must fail, never skip, on a mismatch: they are what proves the import is faithful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convert.parity import MAX_ABS_DIFF, compare
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.pipeline import charset_from_model_metadata, ctc_greedy_decode


def _texts(probs: np.ndarray, charset: list[str]) -> list[str]:
    return [text for text, _ in ctc_greedy_decode(probs, charset)]


def test_detector_matches_original(checkpoints, original_models: Path, detector_batches) -> None:
    original = OnnxRuntimeEngine(original_models / "ch_PP-OCRv4_det_infer.onnx")
    model = checkpoints["text_detection"].build()
    worst = {}
    for item in detector_batches:
        with torch.no_grad():
            ours = model(torch.from_numpy(item.batch)).numpy()
        worst[item.name] = compare(original.run_single(item.batch), ours, has_classes=False).max_abs_diff
    assert max(worst.values()) <= MAX_ABS_DIFF, worst
    assert len(worst) >= 1


def test_recognizer_matches_original(checkpoints, original_models: Path, recognizer_batches) -> None:
    original = OnnxRuntimeEngine(original_models / "ch_PP-OCRv4_rec_infer.onnx")
    checkpoint = checkpoints["text_recognition_ch"]
    charset = charset_from_model_metadata(original.metadata, use_space_char=True)
    assert charset == checkpoint.charset
    model = checkpoint.build()
    for item in recognizer_batches:
        reference = original.run_single(item.batch)
        with torch.no_grad():
            ours = model(torch.from_numpy(item.batch)).numpy()
        report = compare(reference, ours, has_classes=True)
        assert report.max_abs_diff <= MAX_ABS_DIFF, (item.name, report)
        assert _texts(ours, charset) == _texts(reference, charset), item.name


def test_rendered_lines_are_read(checkpoints, rendered_crops, recognizer_batch) -> None:
    """The imported recognizer really reads: rendered Latin and Chinese lines come back verbatim."""
    checkpoint = checkpoints["text_recognition_ch"]
    model = checkpoint.build()
    read = []
    for text, crop in rendered_crops:
        with torch.no_grad():
            probs = model(torch.from_numpy(recognizer_batch(crop))).numpy()
        read.append((text, ctc_greedy_decode(probs, checkpoint.charset)[0][0]))
    exact = [expected.replace(" ", "") == got.replace(" ", "") for expected, got in read]
    assert sum(exact) >= len(read) - 1, read
