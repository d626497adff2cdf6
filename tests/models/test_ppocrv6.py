"""PP-OCRv6 small modules without weights: shapes along the dynamic axes, and the stem's padding."""

from __future__ import annotations

import pytest
import torch

from ocrstack.models.ppocrv6 import DET_BODY, REC_BODY, PPOCRv6Body, PPOCRv6Detector, PPOCRv6Recognizer, Stem


@pytest.mark.parametrize("width", [64, 200, 320])
def test_recognizer_reads_a_column_per_8_pixels(width: int) -> None:
    model = PPOCRv6Recognizer(num_classes=11).eval()
    with torch.no_grad():
        probs = model(torch.rand(2, 3, 48, width))
    assert probs.shape == (2, width // 8, 11)
    assert torch.allclose(probs.sum(-1), torch.ones(2, width // 8), atol=1e-5)


@pytest.mark.parametrize(("height", "width"), [(64, 96), (96, 160)])
def test_detector_map_has_the_input_size(height: int, width: int) -> None:
    with torch.no_grad():
        prob = PPOCRv6Detector().eval()(torch.rand(1, 3, height, width))
    assert prob.shape == (1, 1, height, width)
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0


def test_body_strides() -> None:
    with torch.no_grad():
        det = PPOCRv6Body(DET_BODY).eval()(torch.rand(1, 3, 64, 128))
        (*_, rec) = PPOCRv6Body(REC_BODY).eval()(torch.rand(1, 3, 48, 128))
    assert [tuple(f.shape[1:]) for f in det] == [(48, 16, 32), (96, 8, 16), (192, 4, 8), (384, 2, 4)]
    assert tuple(rec.shape[1:]) == (384, 3, 32)


def test_stem_keeps_odd_sizes_at_a_quarter() -> None:
    """The 2x2 convolutions and the pool are padded right and bottom only, so odd sizes survive."""
    with torch.no_grad():
        out = Stem(8, 4, 16).eval()(torch.rand(1, 3, 30, 46))
    assert out.shape == (1, 16, 8, 12)
