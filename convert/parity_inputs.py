"""The inputs every parity figure is measured on: rendered lines and pages (always available) and the
real benchmark set (when ``../shared/testdata/real`` or ``$OCRSTACK_REAL_DATA`` exists).

Tests and ``scripts/parity_report.py`` both read these, so a figure and its test see the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocrstack.config import detector_config, recognizer_config
from ocrstack.evaluation.dataset import by_kind, data_root, load_samples
from ocrstack.pipeline import (
    choose_width_bucket,
    crop_quad,
    detection_input,
    is_vertical,
    recognition_batch,
    rotate_to_horizontal,
)
from ocrstack.pipeline.pipeline import OcrPipeline
from ocrstack.synth.fonts import Script, find_face
from ocrstack.synth.render import render_text_line

# Latin, digits, punctuation and Chinese, short and long, dark on light and light on dark.
RENDERED_LINES: list[tuple[Script, str]] = [
    ("latin", "GRAND HOTEL"),
    ("latin", "Open 24 hours"),
    ("latin", "Tel: 02-3456-7890"),
    ("latin", "The quick brown fox jumps over the lazy dog"),
    ("han", "欢迎光临"),
    ("han", "北京市朝阳区建国路88号"),
    ("han", "营业时间 9:00-21:00"),
    ("latin", "SALE 50% OFF"),
]
RECOGNIZER = "text_recognition_ch"


@dataclass(frozen=True)
class NamedBatch:
    name: str
    batch: np.ndarray  # N x 3 x H x W float32, ready for the network


def has_real_data() -> bool:
    return data_root().exists()


def rendered_crops() -> list[tuple[str, np.ndarray]]:
    """(text, BGR crop) pairs rendered with installed fonts."""
    crops = []
    for index, (script, text) in enumerate(RENDERED_LINES):
        dark = index % 2 == 0
        fg, bg = ((20, 20, 20), (245, 240, 230)) if dark else ((250, 250, 250), (30, 60, 120))
        face = find_face(script)  # the face index matters in CJK collections (.ttc)
        line = render_text_line(text, face.path, height=48, fg=fg, bg=bg, font_index=face.index)
        crops.append((text, line))
    return crops


def rendered_page() -> np.ndarray:
    """Every rendered line pasted one under another on a light background."""
    crops = [crop for _, crop in rendered_crops()]
    width = max(c.shape[1] for c in crops) + 80
    page = np.full((sum(c.shape[0] + 24 for c in crops) + 40, width, 3), 235, dtype=np.uint8)
    y = 30
    for crop in crops:
        page[y : y + crop.shape[0], 40 : 40 + crop.shape[1]] = crop
        y += crop.shape[0] + 24
    return page


def recognizer_batch(crop: np.ndarray, name: str = RECOGNIZER) -> np.ndarray:
    """Crop -> a recognizer's 1 x 3 x 48 x W input (the pipeline's preprocessing); by default the
    served Chinese/English recognizer's."""
    config = recognizer_config(name)
    return recognition_batch([crop], config, choose_width_bucket(crop.shape[0], crop.shape[1], config))


def real_images() -> list[tuple[str, np.ndarray]]:
    """Every real page and scene image, by file name."""
    if not has_real_data():
        return []
    samples = load_samples()
    return [(s.name, cv2.imread(str(s.path))) for s in by_kind(samples, "page") + by_kind(samples, "icdar")]


def real_crops() -> list[tuple[str, np.ndarray]]:
    if not has_real_data():
        return []
    return [(s.name, cv2.imread(str(s.path))) for s in by_kind(load_samples(), "crop")]


def detected_crops(pipeline: OcrPipeline) -> list[tuple[str, np.ndarray]]:
    """Every line the detector finds in the real pages and scenes, cut out as the pipeline does."""
    crops = []
    for name, image in real_images():
        quads, _ = pipeline.detect(image)
        for index, quad in enumerate(quads):
            crop = crop_quad(image, quad)
            crop = rotate_to_horizontal(crop) if is_vertical(*crop.shape[:2]) else crop
            crops.append((f"{name}#{index}", crop))
    return crops


def detector_batches(name: str = "text_detection") -> list[NamedBatch]:
    """The rendered page, plus every real page and scene when the set is present, prepared for the
    detector ``name``."""
    config = detector_config(name)
    images = [("rendered_page", rendered_page()), *real_images()]
    return [NamedBatch(name, detection_input(image, config)[0]) for name, image in images]


def recognizer_batches(name: str = RECOGNIZER) -> list[NamedBatch]:
    """Rendered lines and every real crop image (when present), one crop per batch, prepared for the
    recognizer ``name``."""
    crops = [(f"rendered:{t}", c) for t, c in rendered_crops()] + real_crops()
    return recognizer_batches_of(crops, name)


def recognizer_batches_of(crops: list[tuple[str, np.ndarray]], name: str = RECOGNIZER) -> list[NamedBatch]:
    return [NamedBatch(label, recognizer_batch(crop, name)) for label, crop in crops]
