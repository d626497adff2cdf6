"""Export round trips: our ONNX files against PyTorch, their interface, rebuilds and FP16."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from convert.export import output_names
from convert.fp16 import to_fp16
from convert.parity import MAX_ABS_DIFF, ParityError, check_parity, compare
from convert.repository import CHECKPOINT_KEY, build_repository, model_path
from ocrstack.config import detector_config, recognizer_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.pipeline import ctc_greedy_decode
from ocrstack.weights.checkpoint import read_checksums


def _texts(probs: np.ndarray, charset: list[str]) -> list[str]:
    return [text for text, _ in ctc_greedy_decode(probs, charset)]


def test_exported_detector_matches_pytorch(checkpoints, exported_repository: Path, detector_batches) -> None:
    engine = OnnxRuntimeEngine(model_path(exported_repository, "text_detection"))
    model = checkpoints["text_detection"].build()
    for item in detector_batches:
        with torch.no_grad():
            reference = model(torch.from_numpy(item.batch)).numpy()
        report = compare(reference, engine.run_single(item.batch), has_classes=False)
        assert report.max_abs_diff <= MAX_ABS_DIFF, (item.name, report)


def test_exported_recognizer_matches_pytorch(
    checkpoints, exported_repository: Path, recognizer_batches
) -> None:
    engine = OnnxRuntimeEngine(model_path(exported_repository, "text_recognition_ch"))
    checkpoint = checkpoints["text_recognition_ch"]
    model = checkpoint.build()
    for item in recognizer_batches:
        with torch.no_grad():
            reference = model(torch.from_numpy(item.batch)).numpy()
        exported = engine.run_single(item.batch)
        report = compare(reference, exported, has_classes=True)
        assert report.max_abs_diff <= MAX_ABS_DIFF, (item.name, report)
        assert _texts(exported, checkpoint.charset) == _texts(reference, checkpoint.charset), item.name


def _dims(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize(
    ("name", "input_dims", "output_dims"),
    [
        ("text_detection", ["batch", 3, "height", "width"], [["batch", 1, "height", "width"]]),
        (
            "text_recognition_ch",
            ["batch", 3, 48, "length"],
            [["batch", "sequence", 6625], ["batch", "sequence"], ["batch", "sequence"]],
        ),
    ],
)
def test_exported_interface(exported_repository: Path, name: str, input_dims, output_dims) -> None:
    graph = onnx.load(str(model_path(exported_repository, name)))
    onnx.checker.check_model(graph, full_check=True)
    config = detector_config(name) if name == "text_detection" else recognizer_config(name)
    (inp,), outputs = graph.graph.input, graph.graph.output
    assert inp.name == config.input_name and _dims(inp) == input_dims
    assert [o.name for o in outputs] == output_names(config)
    assert [_dims(o) for o in outputs] == output_dims
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["model_name"] == name
    assert meta["mean"] == ",".join(map(str, config.normalization.mean))
    assert meta["channel_order"] == config.normalization.channel_order
    assert meta["source"].startswith(config.source_onnx)
    assert ("charset" in meta) == (name != "text_detection")


def test_repository_rebuilds_only_what_is_stale(
    checkpoints_dir: Path, exported_repository: Path, tmp_path
) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(exported_repository, repository)
    detector = model_path(repository, "text_detection")
    recognizer = model_path(repository, "text_recognition_ch")
    recognizer_mtime = recognizer.stat().st_mtime_ns
    detector.write_bytes(b"truncated")
    build_repository(checkpoints_dir, repository)
    assert recognizer.stat().st_mtime_ns == recognizer_mtime  # fresh: untouched
    meta = {p.key: p.value for p in onnx.load(str(detector)).metadata_props}
    assert meta[CHECKPOINT_KEY] == read_checksums(checkpoints_dir)["text_detection.pt"]


def test_a_checkpoint_without_its_triton_config_is_refused(
    checkpoints_dir: Path, exported_repository: Path, tmp_path
) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(exported_repository, repository)
    (repository / "text_detection" / "config.pbtxt").unlink()
    with pytest.raises(FileNotFoundError, match=r"config\.pbtxt"):
        build_repository(checkpoints_dir, repository)


def test_parity_check_fails_on_a_wrong_model(checkpoints, exported_repository: Path) -> None:
    """The parity gate must be able to fail: the recognizer's weights, perturbed, are caught."""
    checkpoint = checkpoints["text_recognition_ch"]
    perturbed = type(checkpoint)(**{**checkpoint.__dict__, "state_dict": dict(checkpoint.state_dict)})
    key = "classifier.bias"
    perturbed.state_dict[key] = checkpoint.state_dict[key].clone()
    perturbed.state_dict[key][1:100] += 0.5  # a uniform shift would cancel in the softmax
    batch = np.random.default_rng(0).standard_normal((1, 3, 48, 320)).astype(np.float32)
    with pytest.raises(ParityError):
        check_parity(perturbed, model_path(exported_repository, "text_recognition_ch"), [batch])


@pytest.mark.slow
def test_fp16_recognizer_reads_the_same_text(
    checkpoints, exported_repository: Path, recognizer_batches, tmp_path
) -> None:
    """The float16 variant must decode the same text as float32 on at least 99% of crops."""
    fp32_path = model_path(exported_repository, "text_recognition_ch")
    fp16 = OnnxRuntimeEngine(to_fp16(fp32_path, tmp_path / "model_fp16.onnx"))
    fp32 = OnnxRuntimeEngine(fp32_path)
    charset = checkpoints["text_recognition_ch"].charset
    same = [
        _texts(fp16.run_single(item.batch), charset) == _texts(fp32.run_single(item.batch), charset)
        for item in recognizer_batches
    ]
    assert sum(same) / len(same) >= 0.99, f"{len(same) - sum(same)} of {len(same)} crops differ"


def test_best_path_outputs_agree_with_the_probabilities(
    exported_repository: Path, recognizer_batches
) -> None:
    """The in-graph best path (what the server sends) is the arg-max of the probabilities."""
    engine = OnnxRuntimeEngine(model_path(exported_repository, "text_recognition_ch"))
    for item in recognizer_batches[:4]:
        out = engine.run({"image": item.batch})
        np.testing.assert_array_equal(out["classes"], out["probabilities"].argmax(-1))
        np.testing.assert_allclose(out["class_scores"], out["probabilities"].max(-1))
