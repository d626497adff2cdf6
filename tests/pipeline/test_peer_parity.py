"""The reference pipeline on real images, beside the peer (RapidOCR 1.4.4) on the same ONNX files.

Detection, ordering and cropping reproduce the peer's exactly, so boxes must be identical. Texts may
differ on a few lines: the peer pads each batch of six crops to the widest of them, the pipeline pads
to width buckets, and the padding changes what the recognizer reads on hard lines. The pipeline's
word-space rule is off here, as the peer has none (``scripts/benchmark_english.py`` measures it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ocrstack.config import detector_config, recognizer_config
from ocrstack.evaluation.dataset import Sample, by_kind
from ocrstack.pipeline import decode_image
from ocrstack.pipeline.pipeline import OcrPipeline

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

IMAGES = ("paddle_00018069.jpg", "img_1.jpg", "img_7.jpg")


@pytest.fixture(scope="module")
def peer():
    rapidocr = pytest.importorskip("rapidocr_onnxruntime")
    return rapidocr.RapidOCR()


@pytest.fixture(scope="module")
def pipeline(original_models: Path) -> OcrPipeline:
    return OcrPipeline.from_onnx(
        original_models / "ch_PP-OCRv4_det_infer.onnx",
        {"horizontal": original_models / "ch_PP-OCRv4_rec_infer.onnx"},
        detector_config(),
        {"horizontal": dataclasses.replace(recognizer_config("text_recognition_ch"), word_spaces=False)},
    )


def test_same_boxes_in_the_same_order_and_nearly_the_same_texts(real_samples: list[Sample], peer, pipeline):
    samples = [s for s in by_kind(real_samples, "page") + by_kind(real_samples, "icdar") if s.name in IMAGES]
    assert len(samples) == len(IMAGES)
    same_text = total = 0
    for sample in samples:
        image = decode_image(sample.path.read_bytes())
        # The angle classifier is off: the pipeline has none (it flips some scene crops wrongly).
        result, _ = peer(image, use_cls=False)
        lines = pipeline(image)
        peer_boxes = {tuple(np.asarray(box, dtype=np.float32).ravel()): text for box, text, _ in result or []}
        our_boxes = {tuple(line.box.ravel()): line.text for line in lines}
        # Lines near the score threshold may fall on either side of it: compare the common boxes.
        common = peer_boxes.keys() & our_boxes.keys()
        assert len(common) >= 0.95 * max(len(peer_boxes), len(our_boxes)), sample.name
        order = [box for box in our_boxes if box in common]
        assert order == [box for box in peer_boxes if box in common], sample.name
        same_text += sum(peer_boxes[box] == our_boxes[box] for box in common)
        total += len(common)
    assert total > 60
    assert same_text >= 0.95 * total
