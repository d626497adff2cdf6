"""Triton's Python-based backend "onnxruntime": any ``backend: "onnxruntime"`` config, run by ONNX Runtime.

The embedded tritonserver (nvidia-pytriton) ships no onnxruntime backend. The launcher writes
``<backend-dir>/onnxruntime/model.py`` that imports :class:`TritonPythonModel` from here, and Triton then
runs every such model through the python backend, one stub process (and so one session) per instance.
The official container serves the same configs with its C++ backend, whose conventions this follows:
``intra_op_thread_count``, ``inter_op_thread_count``, ``execution_mode``, ``enable_mem_arena`` and
``enable_mem_pattern`` in ``parameters``; ``optimization.graph.level``; TensorRT and CUDA options in
``optimization.execution_accelerators.gpu_execution_accelerator``.

With the CPU memory arena on (ONNX Runtime's default), every run asks the arena to give back what it no
longer uses once the run ends (parameter ``arena_shrinkage``, on unless "0"), or with ``arena_budget_mib``
only once the instance's resident memory is above that budget. Without that the arena keeps the
high-water mark of the input shapes it has seen: the detector, fed a new size bucket with each page size,
held 1.5 GB per instance after 16 runs over 8 sizes up to 1984 x 1984, and 0.14 GB with it; the price of
giving it back after every run is the memory allocated again on each run, 1.6x the detector's time
(docs/memory.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from ocrstack.serving.errors import coded_error_response
from ocrstack.serving.ort_backend import batching, model_config, providers
from ocrstack.serving.ort_backend.model_config import ModelTensor, ServingConfig
from ocrstack.serving.ort_backend.session import ArenaRuns, session_options


def model_path(model_directory: Path, version: str, filename: str) -> Path:
    """The ONNX file of one version; a directory of that name holds ``model.onnx`` (external weights)."""
    path = model_directory / version / filename
    if path.is_dir():
        path = path / "model.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {path}")
    return path


def model_tensors(node_args: Sequence[Any]) -> list[ModelTensor]:
    """ONNX Runtime's NodeArgs as the framework-free description the config is checked against."""
    return [
        ModelTensor(arg.name, arg.type, None if arg.shape is None else tuple(arg.shape)) for arg in node_args
    ]


class TritonPythonModel:
    """One instance of a model: one ONNX Runtime session, batched runs, per-request errors."""

    def initialize(self, args: dict[str, str]) -> None:
        self.config: ServingConfig = model_config.parse_config(json.loads(args["model_config"]))
        path = model_path(Path(args["model_repository"]), args["model_version"], self.config.model_filename)
        kind = args.get("model_instance_kind", "CPU")
        chosen = providers.choose_providers(
            ort.get_available_providers(),
            kind,
            int(args.get("model_instance_device_id") or 0),
            self.config.gpu_accelerators,
        )
        self.session: ort.InferenceSession | None = ort.InferenceSession(
            str(path), sess_options=session_options(self.config.session), providers=chosen
        )
        self.runs = ArenaRuns(self.config.session)
        model_config.check_against_model(
            self.config,
            model_tensors(self.session.get_inputs()),
            model_tensors(self.session.get_outputs()),
            {arg.name for arg in self.session.get_overridable_initializers()},
        )
        used = self.session.get_providers()
        if providers.gpu_instance(kind) and used == [providers.CPU_PROVIDER]:
            pb_utils.Logger.log_warn(f"{args.get('model_instance_name')}: GPU instance, but runs on CPU only")
        settings = self.config.session
        pb_utils.Logger.log_info(
            f"{args.get('model_instance_name')}: {path} on {used}, intra_op_threads="
            f"{settings.intra_op_threads} inter_op_threads={settings.inter_op_threads} "
            f"max_batch_size={self.config.max_batch_size} "
            f"max_elements_per_run={settings.max_elements_per_run}"
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        """Check every request, run compatible ones together, answer each in order."""
        responses: list[Any] = [None] * len(requests)
        feeds: list[dict[str, np.ndarray]] = []
        ready: list[int] = []
        for index, request in enumerate(requests):
            arrays, problem = self._request_inputs(request)
            if problem is None:
                problem = batching.request_error(arrays, self.config.inputs, self.config.max_batch_size)
            if problem is not None:
                responses[index] = coded_error_response(f"{self.config.name}: {problem}")
                continue
            feeds.append(arrays)
            ready.append(index)
        batched = self.config.batched
        sizes = [batching.batch_size(arrays, batched) for arrays in feeds]
        keys = [batching.batch_key(arrays) for arrays in feeds]
        for run in batching.plan_batches(keys, sizes, self.config.max_batch_size):
            members = [ready[i] for i in run]
            batch, batch_sizes = [feeds[i] for i in run], [sizes[i] for i in run]
            results = self._run(batch, batch_sizes, [requests[i] for i in members])
            for index, response in zip(members, results, strict=True):
                responses[index] = response
        return responses

    def finalize(self) -> None:
        self.session = None

    def _request_inputs(self, request: Any) -> tuple[dict[str, np.ndarray], str | None]:
        arrays = {}
        for spec in self.config.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, spec.name)
            if tensor is None:
                continue
            try:
                arrays[spec.name] = tensor.as_numpy()
            except Exception as exc:  # e.g. a data type numpy cannot hold; only this request fails
                return {}, f"input '{spec.name}' cannot be read: {exc}"
        return arrays, None

    def _requested_outputs(self, request: Any) -> list[str]:
        """The configured outputs a request asked for; none named means all of them."""
        asked = set(request.requested_output_names() or ())
        return [name for name in self.config.output_names if not asked or name in asked]

    def _run(self, batch: list[dict[str, np.ndarray]], sizes: list[int], requests: list[Any]) -> list[Any]:
        """One session run for requests of equal shapes; a failure becomes each member's error."""
        wanted = [self._requested_outputs(request) for request in requests]
        names = [name for name in self.config.output_names if any(name in w for w in wanted)]
        try:
            if self.session is None:
                raise RuntimeError("the model has been finalized")
            session, options = self.session, self.runs.next()
            feed = batching.concatenate(batch)
            limit = self.config.session.max_elements_per_run
            slice_rows = batching.rows_per_run(feed, limit) if self.config.batched else None
            outputs = batching.run_in_slices(
                lambda part: dict(zip(names, session.run(names, part, options), strict=True)),
                feed,
                slice_rows,
            )
            parts = batching.split_outputs(outputs, sizes) if self.config.batched else [outputs]
        except Exception as exc:  # one failing run must not take the other runs of this execute down
            rows = f"{len(batch)} request(s), {sum(sizes)} row(s)"
            message = f"{self.config.name}: onnxruntime failed on a batch of {rows}: {exc}"
            return [coded_error_response(message, "INTERNAL") for _ in requests]
        return [
            pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(part[name])) for name in asked]
            )
            for part, asked in zip(parts, wanted, strict=True)
        ]
