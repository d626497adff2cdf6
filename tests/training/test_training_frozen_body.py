"""The frozen prefix that fine-tuning runs in ONNX Runtime reads what the PyTorch stages read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ocrstack.models import build_model
from ocrstack.models.korean_ppocr_rec import KoreanPPOCRRecognizer
from training.frozen_body import FrozenPrefix, PrefixedRecognizer


def ppocr_recognizer() -> KoreanPPOCRRecognizer:
    model = build_model("korean_ppocrv4_rec", 30)
    assert isinstance(model, KoreanPPOCRRecognizer)
    return model


@pytest.mark.parametrize("stages", [4, 5])
def test_onnxruntime_prefix_matches_pytorch_and_freezes_its_weights(tmp_path: Path, stages: int) -> None:
    torch.manual_seed(0)
    model = ppocr_recognizer().eval()
    frozen = FrozenPrefix(model, stages, tmp_path, torch.device("cpu"))
    assert frozen.session is not None and (tmp_path / f"frozen_prefix_{stages}.onnx").exists()
    x = torch.rand(2, 3, 48, 136)
    with torch.no_grad():
        expected = model.frozen_prefix(stages)(x)
    torch.testing.assert_close(frozen(x), expected, atol=1e-4, rtol=1e-4)
    assert not any(p.requires_grad for p in model.frozen_prefix(stages).parameters())
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_prefix_length_is_checked(tmp_path: Path) -> None:
    model = ppocr_recognizer()
    with pytest.raises(ValueError, match="stages"):
        FrozenPrefix(model, 6, tmp_path, torch.device("cpu"))


def test_a_recognizer_read_through_its_prefix_gives_its_probabilities(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = ppocr_recognizer().eval()
    reader = PrefixedRecognizer(model, FrozenPrefix(model, 5, tmp_path, torch.device("cpu")))
    x = torch.rand(3, 3, 48, 96)
    with torch.no_grad():
        torch.testing.assert_close(reader(x), model(x), atol=1e-4, rtol=1e-3)
