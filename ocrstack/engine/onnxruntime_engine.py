"""ONNX Runtime implementation of the inference-engine interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ocrstack.engine.base import InferenceEngine

# Preferred first; only the ones the installed onnxruntime build offers are used.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def available_providers(prefer_gpu: bool = True) -> list[str]:
    available = ort.get_available_providers()
    chosen = [p for p in GPU_PROVIDERS if prefer_gpu and p in available]
    return [*chosen, "CPUExecutionProvider"]


class OnnxRuntimeEngine(InferenceEngine):
    def __init__(
        self,
        model: str | Path | bytes,
        intra_op_threads: int = 0,
        inter_op_threads: int = 1,
        providers: Sequence[str] | None = None,
        optimize: bool = True,
    ) -> None:
        """``optimize=False`` runs the graph as written, without ONNX Runtime's rewrites (fusions, the
        blocked NCHWc layout): slower, and the reference parity checks compare against."""
        options = ort.SessionOptions()
        # 0 lets ONNX Runtime use every core; servers running several sessions set this explicitly
        # so that instances x threads stays within the core count.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if optimize
            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        source = model if isinstance(model, bytes) else str(model)
        self._session = ort.InferenceSession(
            source, sess_options=options, providers=list(providers or available_providers())
        )
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._metadata = dict(self._session.get_modelmeta().custom_metadata_map)

    @property
    def input_names(self) -> list[str]:
        return self._inputs

    @property
    def output_names(self) -> list[str]:
        return self._outputs

    @property
    def metadata(self) -> dict[str, str]:
        return self._metadata

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def run(
        self, inputs: dict[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        names = list(outputs) if outputs is not None else self._outputs
        values = self._session.run(names, inputs)
        return dict(zip(names, values, strict=True))
