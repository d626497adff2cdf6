"""Reading a model repository from inside it, as the python models do at ``initialize``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ocrstack.serving.repository import latest_version_dir, model_names, onnx_metadata


def _save_model(path: Path, metadata: dict[str, str]) -> None:
    weights = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(64, 64), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [weights],
    )
    model = helper.make_model(graph)
    helper.set_model_props(model, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def test_onnx_metadata_reads_what_onnx_reads_without_the_onnx_package(tmp_path: Path) -> None:
    metadata = {"charset": "가\n각\nA", "height": "48", "empty": ""}
    _save_model(tmp_path / "rec" / "1" / "model.onnx", {"old": "version 1"})
    _save_model(tmp_path / "rec" / "2" / "model.onnx", metadata)
    assert onnx_metadata(tmp_path / "rec") == metadata
    loaded = onnx.load(str(tmp_path / "rec" / "2" / "model.onnx"))
    assert {p.key: p.value for p in loaded.metadata_props} == metadata


def test_latest_version_and_model_names(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    (tmp_path / "a" / "10").mkdir()
    (tmp_path / "not_a_model").mkdir()
    assert latest_version_dir(tmp_path / "a").name == "10"
    assert model_names(tmp_path) == {"a", "b"}
