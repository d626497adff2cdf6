"""Half-precision variant of an exported model, for GPUs.

Inputs and outputs stay float32, so clients and the pipeline are unchanged; the cast happens inside.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16

# Ops whose float16 versions lose too much range (the sums of normalisations and softmaxes).
KEEP_FLOAT32 = ["LayerNormalization", "ReduceMean", "Pow", "Sqrt", "Softmax"]


def to_fp16(src: Path, dst: Path) -> Path:
    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=KEEP_FLOAT32)
    onnx.checker.check_model(half)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(half, str(dst))
    return dst
