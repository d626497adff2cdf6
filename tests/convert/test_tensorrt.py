"""TensorRT build commands come from the config records; engines are built where a GPU is present."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convert.repository import model_path
from convert.tensorrt import build_engine, shape_profile, trtexec_command
from ocrstack.config import detector_config, recognizer_config


def test_detector_profile_spans_the_resize_policy() -> None:
    config = detector_config()
    profile = shape_profile(config, max_batch=4)
    assert profile["min"] == "image:1x3x32x32"
    assert profile["opt"] == "image:1x3x736x1312"
    assert profile["max"] == "image:4x3x1984x1984"


def test_recognizer_profile_spans_the_width_buckets() -> None:
    config = recognizer_config("text_recognition_ch")
    profile = shape_profile(config, max_batch=32)
    assert profile == {
        "min": f"image:1x3x48x{config.width_buckets[0]}",
        "opt": f"image:16x3x48x{config.width_buckets[1]}",
        "max": f"image:32x3x48x{config.max_width}",
    }


def test_trtexec_command(tmp_path: Path) -> None:
    command = trtexec_command(tmp_path / "m.onnx", tmp_path / "m.plan", detector_config(), 8, fp16=True)
    assert command[0] == "trtexec" and "--fp16" in command
    assert f"--saveEngine={tmp_path / 'm.plan'}" in command


def test_missing_trtexec_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(FileNotFoundError, match="trtexec"):
        build_engine(["trtexec", "--help"])


@pytest.mark.gpu
def test_build_engines_on_gpu(exported_repository: Path, tmp_path: Path) -> None:
    if shutil.which("trtexec") is None:
        pytest.skip("trtexec not installed on this GPU host")
    for name, config in [("text_recognition_ch", recognizer_config("text_recognition_ch"))]:
        engine = tmp_path / f"{name}.plan"
        build_engine(trtexec_command(model_path(exported_repository, name), engine, config, 8, fp16=True))
        assert engine.stat().st_size > 0
