"""Session fixtures shared by the test packages: checkpoints, exported models, parity inputs.

Inputs come from two sources: images the tests render themselves (always) and the real benchmark set
in ``../shared/testdata/real`` (when present; tests that need it are marked ``realdata`` and skip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.repository import build_repository
from ocrstack.config import detector_config, recognizer_config
from ocrstack.evaluation.dataset import Sample, by_kind, data_root, load_samples
from ocrstack.pipeline import choose_width_bucket, detection_input, recognition_batch
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint
from ocrstack.weights.rapidocr_import import import_all, rapidocr_models_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO_ROOT / "build" / "checkpoints"

# Lines the rendered fixtures draw: Latin, digits, punctuation and Chinese, short and long.
RENDERED_LINES = [
    ("latin", "GRAND HOTEL"),
    ("latin", "Open 24 hours"),
    ("latin", "Tel: 02-3456-7890"),
    ("latin", "The quick brown fox jumps over the lazy dog"),
    ("han", "欢迎光临"),
    ("han", "北京市朝阳区建国路88号"),
    ("han", "营业时间 9:00-21:00"),
    ("latin", "SALE 50% OFF"),
]


@dataclass(frozen=True)
class NamedBatch:
    name: str
    batch: np.ndarray  # N x 3 x H x W float32, ready for the network


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {}
    if not data_root().exists():
        skips["realdata"] = pytest.mark.skip(reason=f"real test data not found at {data_root()}")
    if not _has_gpu():
        skips["gpu"] = pytest.mark.skip(reason="no NVIDIA GPU")
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    import_all(CHECKPOINTS)  # idempotent: keeps checksum-valid files
    return CHECKPOINTS


@pytest.fixture(scope="session")
def checkpoints(checkpoints_dir: Path) -> dict[str, Checkpoint]:
    return {p.stem: load_checkpoint(p) for p in sorted(checkpoints_dir.glob("*.pt"))}


@pytest.fixture(scope="session")
def exported_repository(checkpoints_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository exported afresh by this test session (a real round trip, not a cache)."""
    repository = tmp_path_factory.mktemp("model_repository")
    build_repository(checkpoints_dir, repository)
    return repository


@pytest.fixture(scope="session")
def original_models() -> Path:
    return rapidocr_models_dir()


@pytest.fixture(scope="session")
def real_samples() -> list[Sample]:
    if not data_root().exists():
        pytest.skip(f"real test data not found at {data_root()}")
    return load_samples()


def _rendered_line_crops() -> list[tuple[str, np.ndarray]]:
    from ocrstack.synth.render import render_text_line

    from ocrstack.synth.fonts import find_font

    crops = []
    for index, (script, text) in enumerate(RENDERED_LINES):
        dark = index % 2 == 0
        fg, bg = ((20, 20, 20), (245, 240, 230)) if dark else ((250, 250, 250), (30, 60, 120))
        crops.append((text, render_text_line(text, find_font(script), height=48, fg=fg, bg=bg)))
    return crops


@pytest.fixture(scope="session")
def rendered_crops() -> list[tuple[str, np.ndarray]]:
    """(text, BGR crop) pairs rendered with installed fonts."""
    return _rendered_line_crops()


@pytest.fixture(scope="session")
def rendered_page() -> np.ndarray:
    """A page with every rendered line pasted one under another on a light background."""
    crops = [crop for _, crop in _rendered_line_crops()]
    width = max(c.shape[1] for c in crops) + 80
    page = np.full((sum(c.shape[0] + 24 for c in crops) + 40, width, 3), 235, dtype=np.uint8)
    y = 30
    for crop in crops:
        page[y : y + crop.shape[0], 40 : 40 + crop.shape[1]] = crop
        y += crop.shape[0] + 24
    return page


def _recognizer_batch(crop: np.ndarray) -> np.ndarray:
    config = recognizer_config("text_recognition_ch")
    width = choose_width_bucket(crop.shape[0], crop.shape[1], config)
    return recognition_batch([crop], config, width)


@pytest.fixture(scope="session")
def recognizer_batch():
    """Crop -> the Chinese/English recognizer's 1 x 3 x 48 x W input (the pipeline's preprocessing)."""
    return _recognizer_batch


@pytest.fixture(scope="session")
def detector_batches(rendered_page: np.ndarray, request: pytest.FixtureRequest) -> list[NamedBatch]:
    """Detector inputs: the rendered page, plus every real page and scene when the set is present."""
    config = detector_config()
    batches = [NamedBatch("rendered_page", detection_input(rendered_page, config)[0])]
    if data_root().exists():
        samples = load_samples()
        for sample in by_kind(samples, "page") + by_kind(samples, "icdar"):
            image = cv2.imread(str(sample.path))
            batches.append(NamedBatch(sample.name, detection_input(image, config)[0]))
    return batches


@pytest.fixture(scope="session")
def recognizer_batches(rendered_crops: list[tuple[str, np.ndarray]]) -> list[NamedBatch]:
    """Recognizer inputs: rendered lines, plus every real crop when the set is present."""
    batches = [NamedBatch(f"rendered:{text}", _recognizer_batch(crop)) for text, crop in rendered_crops]
    if data_root().exists():
        for sample in by_kind(load_samples(), "crop"):
            batches.append(NamedBatch(sample.name, _recognizer_batch(cv2.imread(str(sample.path)))))
    return batches


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
