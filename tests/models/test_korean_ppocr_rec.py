"""The Korean recognizer on the PP-OCRv4 body: contract, import of a PP-OCR recognizer's weights,
training from a frozen prefix, and ONNX export parity."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from convert.export import export_onnx
from ocrstack.config import PADDLE_NORMALIZATION, RECOGNIZERS, RecognizerConfig
from ocrstack.models import build_model
from ocrstack.models.korean_ppocr_rec import KoreanPPOCRRecognizer, init_from_ppocr
from ocrstack.models.ppocr_rec import PPOCRv4Recognizer
from ocrstack.weights.checkpoint import Checkpoint

# Hangul syllables, which a PP-OCR source lacks, and characters both have.
CHARSET = [chr(0xAC00 + i) for i in range(40)] + list("AB12 ")
SOURCE_CHARSET = [*"xyAzB1w2", " "]


def _model(seed: int = 0) -> KoreanPPOCRRecognizer:
    torch.manual_seed(seed)
    model = build_model("korean_ppocrv4_rec", len(CHARSET) + 1)
    assert isinstance(model, KoreanPPOCRRecognizer)
    model.set_charset(CHARSET)
    return model.eval()


def _source(seed: int = 1) -> PPOCRv4Recognizer:
    torch.manual_seed(seed)
    return PPOCRv4Recognizer(len(SOURCE_CHARSET) + 1).eval()


@pytest.mark.parametrize("length", [8, 160, 333])
def test_output_is_one_distribution_per_eight_columns(length: int) -> None:
    model = _model()
    with torch.no_grad():
        probabilities = model(model.example_input(length, 2))
    assert probabilities.shape == (2, model.sequence_length(length), len(CHARSET) + 1)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, model.sequence_length(length)))


def test_wrong_height_is_refused() -> None:
    with pytest.raises(ValueError, match="48"):
        _model()(torch.rand(1, 3, 32, 100))


def test_import_copies_the_body_and_the_rows_of_shared_characters() -> None:
    model, source = _model(), _source()
    carried = init_from_ppocr(model, source.state_dict(), SOURCE_CHARSET, CHARSET)
    assert carried == 5  # A, B, 1, 2 and the space
    torch.testing.assert_close(model.encoder.conv5.conv.weight, source.encoder.conv5.conv.weight)
    for char in "AB12 ":
        ours, theirs = CHARSET.index(char) + 1, SOURCE_CHARSET.index(char) + 1
        torch.testing.assert_close(model.classifier.weight[ours], source.classifier.weight[theirs])
    torch.testing.assert_close(model.classifier.weight[0], source.classifier.weight[0])  # the blank
    # Hangul rows start no likelier than the source's least likely class.
    assert model.classifier.bias[1].item() == pytest.approx(source.classifier.bias.min().item())
    # Jamo scores start at zero, so a Latin line reads as the source read it.
    x = torch.rand(1, 3, 48, 96)
    with torch.no_grad():
        ours_logits = model.logits(x)[..., [0, *(CHARSET.index(c) + 1 for c in "AB12 ")]]
        theirs_logits = source.logits(x)[..., [0, *(SOURCE_CHARSET.index(c) + 1 for c in "AB12 ")]]
    torch.testing.assert_close(ours_logits, theirs_logits)


def test_import_refuses_a_head_of_another_size() -> None:
    with pytest.raises(ValueError, match="classes"):
        init_from_ppocr(_model(), _source().state_dict(), SOURCE_CHARSET[:-1], CHARSET)


@pytest.mark.parametrize("stages", [3, 5])
def test_log_probs_from_a_stage_match_the_whole_model(stages: int) -> None:
    model = _model()
    x = torch.rand(2, 3, 48, 120)
    with torch.no_grad():
        features = model.frozen_prefix(stages)(x)
        torch.testing.assert_close(model.log_probs_from(features, stages), model.log_probs(x))


def test_export_matches_pytorch(tmp_path: Path) -> None:
    model = _model(seed=3)
    config = RecognizerConfig(
        name="test_text_recognition_ko_pp",
        architecture="korean_ppocrv4_rec",
        normalization=PADDLE_NORMALIZATION,
        languages=("ko",),
    )
    checkpoint = Checkpoint(config.name, config.architecture, model.state_dict(), CHARSET, source="random")
    path = tmp_path / "model.onnx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(RECOGNIZERS, config.name, config)
        export_onnx(checkpoint, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, length in [(1, 48), (3, 320)]:
        x = model.example_input(length, batch)
        with torch.no_grad():
            expected = model(x).numpy()
        (actual,) = session.run([config.output_name], {config.input_name: x.numpy()})
        assert abs(actual - expected).max() < 1e-4
