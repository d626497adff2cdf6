"""Reading a Triton model repository from inside it: model configs and the ONNX files' metadata.

Python models use this at ``initialize`` to learn what the recognizers next to them are (their
``max_batch_size`` and charset), so no such number is written into a Python model's own config.
"""

from __future__ import annotations

import functools
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import Message
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


@functools.cache
def _onnx_metadata_message() -> type[Message]:
    """The part of ONNX's ``ModelProto`` that holds custom metadata (field 14, ``metadata_props``), as a
    message of its own: a model file parses into it with every other field skipped, so reading a charset
    needs neither the ``onnx`` package nor the graph's weights decoded."""
    schema = descriptor_pb2.FileDescriptorProto(
        name="ocrstack_onnx_metadata.proto", package="ocrstack_onnx", syntax="proto2"
    )
    entry = schema.message_type.add(name="StringStringEntryProto")
    for number, name in ((1, "key"), (2, "value")):
        entry.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    model = schema.message_type.add(name="ModelProto")
    model.field.add(
        name="metadata_props",
        number=14,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
        type_name=".ocrstack_onnx.StringStringEntryProto",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ocrstack_onnx.ModelProto"))


def onnx_metadata(model_dir: Path) -> dict[str, str]:
    """Custom metadata of the latest version's ``model.onnx``."""
    model = _onnx_metadata_message().FromString((latest_version_dir(model_dir) / "model.onnx").read_bytes())
    return {entry.key: entry.value for entry in model.metadata_props}


def model_names(repository: Path) -> set[str]:
    return {p.parent.name for p in repository.glob("*/config.pbtxt")}
