"""Half-precision variant of an exported model, for GPUs.

Inputs and outputs stay float32, so clients and the pipeline are unchanged; the cast happens inside.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16

# Ops whose float16 versions lose too much range (the sums of normalisations and softmaxes).
KEEP_FLOAT32 = ["ReduceMean", "Pow", "Sqrt", "Softmax"]


def topologically_sorted(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The graph's nodes in an order where every input is produced before it is read.

    The float16 converter appends its input casts at the end of the node list, which the ONNX
    checker (rightly) refuses.
    """
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError("graph has a cycle or reads a tensor nothing produces")
        for node in ready:
            available.update(node.output)
        ordered.extend(ready)
        done = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in done]
    return ordered


def to_fp16(src: Path, dst: Path) -> Path:
    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=KEEP_FLOAT32)
    nodes = topologically_sorted(half.graph)
    del half.graph.node[:]
    half.graph.node.extend(nodes)
    onnx.checker.check_model(half)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(half, str(dst))
    return dst
