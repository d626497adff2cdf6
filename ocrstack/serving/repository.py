"""Reading a Triton model repository from inside it: model configs and the ONNX files' metadata.

Python models use this at ``initialize`` to learn what the recognizers next to them are (their
``max_batch_size`` and charset), so no such number is written into a Python model's own config.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2


def read_model_config(model_dir: Path) -> model_config_pb2.ModelConfig:
    """Parse ``<model_dir>/config.pbtxt``."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse((model_dir / "config.pbtxt").read_text(), config)
    if not config.name:
        config.name = model_dir.name
    return config


def latest_version_dir(model_dir: Path) -> Path:
    versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{model_dir} has no numbered version folder")
    return max(versions, key=lambda p: int(p.name))


def onnx_metadata(model_dir: Path) -> dict[str, str]:
    """Custom metadata of the latest version's ``model.onnx``."""
    graph = onnx.load(str(latest_version_dir(model_dir) / "model.onnx"), load_external_data=False)
    return {p.key: p.value for p in graph.metadata_props}


def model_names(repository: Path) -> set[str]:
    return {p.parent.name for p in repository.glob("*/config.pbtxt")}
