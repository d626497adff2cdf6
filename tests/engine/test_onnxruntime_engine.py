"""The ONNX Runtime engine: names, metadata, providers and runs on a tiny exported model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.engine.onnxruntime_engine import available_providers


@pytest.fixture(scope="module")
def doubling_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "double.onnx"
    torch.onnx.export(
        _Double(),
        (torch.zeros(2, 3),),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
        dynamo=False,
    )
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"charset": "a\nb"})
    onnx.save(model, str(path))
    return path


class _Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_names_metadata_and_run(doubling_model: Path) -> None:
    engine = OnnxRuntimeEngine(doubling_model, intra_op_threads=1)
    assert engine.input_names == ["x"] and engine.output_names == ["y"]
    assert engine.metadata == {"charset": "a\nb"}
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(engine.run({"x": x})["y"], x * 2)
    np.testing.assert_array_equal(engine.run_single(x), x * 2)


def test_loads_from_bytes(doubling_model: Path) -> None:
    engine = OnnxRuntimeEngine(doubling_model.read_bytes())
    assert engine.run_single(np.ones((1, 3), np.float32)).tolist() == [[2, 2, 2]]


def test_cpu_is_always_the_last_provider() -> None:
    assert available_providers()[-1] == "CPUExecutionProvider"
    assert available_providers(prefer_gpu=False) == ["CPUExecutionProvider"]
