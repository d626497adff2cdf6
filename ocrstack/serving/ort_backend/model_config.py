"""The embedded onnxruntime backend's reading of a model config: tensors, session settings and GPU
accelerators, and the config checked against the ONNX graph it serves.

Config conventions are those of Triton's C++ onnxruntime backend, so that one ``config.pbtxt`` means the
same thing under both runtimes. Framework-free (parsed JSON and numpy), so it is unit-tested without a
Triton server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ocrstack.serving.parameters import optional_bool_parameter, parameter

TRITON_DTYPES: dict[str, np.dtype] = {
    "TYPE_BOOL": np.dtype(np.bool_),
    "TYPE_UINT8": np.dtype(np.uint8),
    "TYPE_UINT16": np.dtype(np.uint16),
    "TYPE_UINT32": np.dtype(np.uint32),
    "TYPE_UINT64": np.dtype(np.uint64),
    "TYPE_INT8": np.dtype(np.int8),
    "TYPE_INT16": np.dtype(np.int16),
    "TYPE_INT32": np.dtype(np.int32),
    "TYPE_INT64": np.dtype(np.int64),
    "TYPE_FP16": np.dtype(np.float16),
    "TYPE_FP32": np.dtype(np.float32),
    "TYPE_FP64": np.dtype(np.float64),
    "TYPE_STRING": np.dtype(np.object_),
}

# Element types as ONNX Runtime spells them in NodeArg.type.
ONNX_DTYPES: dict[str, np.dtype] = {
    "tensor(bool)": np.dtype(np.bool_),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(uint16)": np.dtype(np.uint16),
    "tensor(uint32)": np.dtype(np.uint32),
    "tensor(uint64)": np.dtype(np.uint64),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(int16)": np.dtype(np.int16),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(string)": np.dtype(np.object_),
}

# optimization { graph { level } } as the C++ backend reads it; any other value means "all".
GRAPH_LEVELS = {-1: "ORT_ENABLE_BASIC", 1: "ORT_ENABLE_EXTENDED", 2: "ORT_DISABLE_ALL"}
DEFAULT_GRAPH_LEVEL = "ORT_ENABLE_ALL"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the model config declares it; ``dims`` exclude the batch dimension."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    optional: bool = False

    @property
    def dtype(self) -> np.dtype:
        return TRITON_DTYPES[self.data_type]


@dataclass(frozen=True)
class ModelTensor:
    """One input or output as the ONNX graph declares it.

    ``shape`` holds an int for each fixed dimension and a name or None for each dynamic one; it is None
    when the graph does not state the rank.
    """

    name: str
    onnx_type: str
    shape: tuple[int | str | None, ...] | None


@dataclass(frozen=True)
class Accelerator:
    """An entry of ``optimization.execution_accelerators.gpu_execution_accelerator``."""

    name: str
    parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionSettings:
    """ONNX Runtime session options read from the config; 0 threads lets ONNX Runtime choose."""

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    parallel_execution: bool = False
    graph_optimization: str = DEFAULT_GRAPH_LEVEL
    enable_mem_arena: bool | None = None
    enable_mem_pattern: bool | None = None
    # Runs give the CPU arena's unused memory back at their end (ort_options.run_options): the
    # memory stays flat whatever input shapes come, at the price of allocating it again on the next run
    # (docs/memory.md). Only this backend reads the key.
    arena_shrinkage: bool = True
    # With a budget (MiB), a run gives the arena back only when the instance's resident memory is above
    # it: the usual pages reuse a warm arena (the detector runs 1.6x faster), and one big page's memory
    # is returned by the next run. 0: every run gives it back.
    arena_budget_mib: int = 0
    # Idle intra-op threads busy-wait by default; with several sessions sharing a few cores that
    # spinning steals the cores the other sessions need. Only this backend reads the key (the
    # container's C++ backend ignores it, and serves GPUs where it does not matter).
    allow_spinning: bool | None = None
    # With a limit, a merged batch runs in slices of at most this many input elements. On CPU the cost
    # per item grows once a run's activations outgrow the cache, while Triton's merging still saves
    # the per-request overhead; 0 runs every batch whole (what GPUs want).
    max_elements_per_run: int = 0


@dataclass(frozen=True)
class ServingConfig:
    """What the backend needs from one model config, parsed and checked once at load."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    model_filename: str
    session: SessionSettings
    gpu_accelerators: tuple[Accelerator, ...]

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]


def session_settings(config: Mapping[str, Any]) -> SessionSettings:
    parameters = config.get("parameters") or {}
    intra = parameter(parameters, "intra_op_thread_count", 0)
    inter = parameter(parameters, "inter_op_thread_count", 0)
    budget = parameter(parameters, "arena_budget_mib", 0)
    for key, value in (
        ("intra_op_thread_count", intra),
        ("inter_op_thread_count", inter),
        ("arena_budget_mib", budget),
    ):
        if value < 0:
            raise ValueError(f"parameter '{key}' must be >= 0, got {value}")
    mode = parameter(parameters, "execution_mode", 0)
    if mode not in (0, 1):
        raise ValueError(f"parameter 'execution_mode' must be 0 (sequential) or 1 (parallel), got {mode}")
    graph = (config.get("optimization") or {}).get("graph") or {}
    return SessionSettings(
        intra_op_threads=intra,
        inter_op_threads=inter,
        parallel_execution=mode == 1,
        graph_optimization=GRAPH_LEVELS.get(int(graph.get("level", 0)), DEFAULT_GRAPH_LEVEL),
        enable_mem_arena=optional_bool_parameter(parameters, "enable_mem_arena"),
        enable_mem_pattern=optional_bool_parameter(parameters, "enable_mem_pattern"),
        allow_spinning=optional_bool_parameter(parameters, "allow_spinning"),
        arena_shrinkage=optional_bool_parameter(parameters, "arena_shrinkage") is not False,
        arena_budget_mib=budget,
        max_elements_per_run=parameter(parameters, "max_elements_per_run", 0),
    )


def tensor_specs(config: Mapping[str, Any], key: str) -> tuple[TensorSpec, ...]:
    """The ``input`` or ``output`` entries of a config, refusing features this backend does not serve."""
    specs = []
    for entry in config.get(key) or []:
        name = entry["name"]
        # Refused rather than ignored: serving them naively would give wrong shapes without an error.
        for unsupported in ("reshape", "is_shape_tensor", "allow_ragged_batch"):
            if entry.get(unsupported):
                raise ValueError(f"{key} '{name}': '{unsupported}' is not supported by this backend")
        data_type = entry.get("data_type", "")
        if data_type not in TRITON_DTYPES:
            raise ValueError(f"{key} '{name}': data type {data_type!r} is not supported")
        dims = tuple(int(d) for d in entry.get("dims") or [])
        specs.append(TensorSpec(name, data_type, dims, bool(entry.get("optional", False))))
    return tuple(specs)


def gpu_accelerators(config: Mapping[str, Any]) -> tuple[Accelerator, ...]:
    accelerators = ((config.get("optimization") or {}).get("execution_accelerators") or {}).get(
        "gpu_execution_accelerator"
    ) or []
    parsed = []
    for entry in accelerators:
        parameters = {str(key): str(value) for key, value in (entry.get("parameters") or {}).items()}
        parsed.append(Accelerator(str(entry["name"]).lower(), parameters))
    return tuple(parsed)


def parse_config(config: Mapping[str, Any]) -> ServingConfig:
    """Everything the backend reads from a model config (Triton's JSON form of ``config.pbtxt``)."""
    max_batch_size = int(config.get("max_batch_size", 0))
    if max_batch_size < 0:
        raise ValueError(f"max_batch_size must be >= 0, got {max_batch_size}")
    inputs, outputs = tensor_specs(config, "input"), tensor_specs(config, "output")
    if not inputs or not outputs:
        raise ValueError("the config must declare at least one input and one output")
    return ServingConfig(
        name=str(config.get("name", "")),
        max_batch_size=max_batch_size,
        inputs=inputs,
        outputs=outputs,
        model_filename=str(config.get("default_model_filename") or "model.onnx"),
        session=session_settings(config),
        gpu_accelerators=gpu_accelerators(config),
    )


def format_dims(dims: Sequence[object], batched: bool) -> str:
    shown = [str(d) for d in dims]
    return "[" + ", ".join(["batch", *shown] if batched else shown) + "]"


def _dims_problem(kind: str, spec: TensorSpec, tensor: ModelTensor, batched: bool) -> str | None:
    if tensor.shape is None:
        return None
    expected = ((-1,) if batched else ()) + spec.dims
    if len(tensor.shape) != len(expected):
        return (
            f"{kind} '{spec.name}': the config gives rank {len(expected)} {format_dims(spec.dims, batched)}, "
            f"the ONNX model rank {len(tensor.shape)} {list(tensor.shape)}"
        )
    if batched and isinstance(tensor.shape[0], int) and tensor.shape[0] >= 0:
        return (
            f"{kind} '{spec.name}': max_batch_size > 0 but the ONNX model fixes the first dimension to "
            f"{tensor.shape[0]} (export it with a dynamic batch axis, or set max_batch_size: 0)"
        )
    for want, got in zip(expected, tensor.shape, strict=True):
        if want >= 0 and isinstance(got, int) and got >= 0 and want != got:
            return (
                f"{kind} '{spec.name}': the config gives dims {format_dims(spec.dims, batched)}, "
                f"the ONNX model shape {list(tensor.shape)}"
            )
    return None


def _io_problems(
    kind: str,
    specs: Sequence[TensorSpec],
    tensors: Sequence[ModelTensor],
    batched: bool,
    also_accepted: Collection[str] = (),
) -> list[str]:
    by_name = {tensor.name: tensor for tensor in tensors}
    problems = []
    for spec in specs:
        tensor = by_name.get(spec.name)
        if tensor is None:
            if spec.name not in also_accepted:
                names = ", ".join(sorted(by_name)) or "none"
                problems.append(f"{kind} '{spec.name}' is not in the ONNX model (its {kind}s: {names})")
            continue
        model_dtype = ONNX_DTYPES.get(tensor.onnx_type)
        if model_dtype != spec.dtype:
            problems.append(
                f"{kind} '{spec.name}': the config says {spec.data_type}, the ONNX model {tensor.onnx_type}"
            )
            continue
        problem = _dims_problem(kind, spec, tensor, batched)
        if problem:
            problems.append(problem)
    return problems


def check_against_model(
    config: ServingConfig,
    model_inputs: Sequence[ModelTensor],
    model_outputs: Sequence[ModelTensor],
    overridable_initializers: Collection[str] = (),
) -> None:
    """Raise ValueError naming every mismatch between the config's tensors and the ONNX model's.

    Inputs the graph needs must all be in the config (ONNX Runtime could not run without them); an
    initializer the graph lets callers override may be declared as an input too.
    """
    problems = _io_problems("input", config.inputs, model_inputs, config.batched, overridable_initializers)
    problems += _io_problems("output", config.outputs, model_outputs, config.batched)
    declared = {spec.name for spec in config.inputs}
    problems += [
        f"input '{tensor.name}' of the ONNX model is missing from the config"
        for tensor in model_inputs
        if tensor.name not in declared
    ]
    if problems:
        raise ValueError(f"model '{config.name}' does not match its config: " + "; ".join(problems))
