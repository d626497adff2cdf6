"""Framework-free logic of the Python-based onnxruntime backend: config parsing, request checks, batching.

Everything here works on the model config as Triton hands it over (parsed JSON) and on numpy arrays, so
it is unit-tested without a Triton server; :mod:`ocrstack.serving.onnxruntime_backend` only wires it to
ONNX Runtime and ``triton_python_backend_utils``. Config conventions are those of Triton's C++
onnxruntime backend, so that one ``config.pbtxt`` means the same thing under both runtimes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T", bool, int, float, str)

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

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"

# optimization { graph { level } } as the C++ backend reads it; any other value means "all".
GRAPH_LEVELS = {-1: "ORT_ENABLE_BASIC", 1: "ORT_ENABLE_EXTENDED", 2: "ORT_DISABLE_ALL"}
DEFAULT_GRAPH_LEVEL = "ORT_ENABLE_ALL"

# Accelerator parameters whose TensorRT execution-provider option has another name.
TENSORRT_OPTION_NAMES = {
    "max_workspace_size_bytes": "trt_max_workspace_size",
    "int8_calibration_table_name": "trt_int8_calibration_table_name",
    "int8_use_native_calibration_table": "trt_int8_use_native_calibration_table",
}

ProviderSpec = tuple[str, dict[str, str]]
Arrays = Mapping[str, np.ndarray]


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


# --- parameters -------------------------------------------------------------------------------------


def parse_bool(text: str) -> bool:
    """Booleans as Triton configs write them: 1/0, true/false, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def string_parameter(parameters: Mapping[str, Any], key: str) -> str | None:
    """The ``string_value`` of ``parameters { key: ... }``, or None when the key is absent."""
    entry = parameters.get(key)
    if entry is None:
        return None
    if isinstance(entry, Mapping):
        value = entry.get("string_value")
        return None if value is None else str(value)
    return str(entry)


def parameter(parameters: Mapping[str, Any], key: str, default: T) -> T:
    """A config parameter converted to the type of ``default``, which is returned when the key is absent."""
    raw = string_parameter(parameters, key)
    if raw is None:
        return default
    try:
        if isinstance(default, bool):
            return parse_bool(raw)
        if isinstance(default, int):
            return int(raw.strip())
        if isinstance(default, float):
            return float(raw.strip())
        return raw
    except ValueError as exc:
        kind = type(default).__name__
        raise ValueError(f"parameter '{key}' must be {kind}, got {raw!r}") from exc


def optional_bool_parameter(parameters: Mapping[str, Any], key: str) -> bool | None:
    """A boolean switch that, when absent, leaves ONNX Runtime's own default in place."""
    raw = string_parameter(parameters, key)
    if raw is None:
        return None
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise ValueError(f"parameter '{key}' must be a boolean, got {raw!r}") from exc


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


# --- config -----------------------------------------------------------------------------------------


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


# --- config against the ONNX model ------------------------------------------------------------------


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


# --- execution providers ----------------------------------------------------------------------------


def tensorrt_options(parameters: Mapping[str, str], device_id: int) -> dict[str, str]:
    """TensorRT execution-provider options from the accelerator's parameters (C++ backend's names)."""
    options = {"device_id": str(device_id)}
    for key, value in parameters.items():
        if key == "precision_mode":
            mode = value.strip().upper()
            if mode not in {"FP32", "FP16", "INT8"}:
                raise ValueError(f"tensorrt precision_mode must be FP32, FP16 or INT8, got {value!r}")
            if mode != "FP32":
                options[f"trt_{mode.lower()}_enable"] = "True"
        else:
            options[TENSORRT_OPTION_NAMES.get(key, key)] = value
    return options


def gpu_instance(instance_kind: str) -> bool:
    """Whether Triton's ``model_instance_kind`` ("GPU", or "KIND_GPU" as configs spell it) is a GPU."""
    return instance_kind.upper().removeprefix("KIND_") == "GPU"


def choose_providers(
    available: Collection[str],
    instance_kind: str,
    device_id: int,
    accelerators: Sequence[Accelerator] = (),
) -> list[ProviderSpec]:
    """Execution providers for one instance, preferred first.

    As in the C++ backend, a GPU instance runs on CUDA and uses TensorRT only when the config asks for
    the "tensorrt" accelerator; CPU always comes last, for the nodes the others cannot run and for
    onnxruntime builds without GPU support.
    """
    chosen: list[ProviderSpec] = []
    if gpu_instance(instance_kind):
        requested = {accelerator.name: accelerator for accelerator in accelerators}
        if "tensorrt" in requested and TENSORRT_PROVIDER in available:
            chosen.append((TENSORRT_PROVIDER, tensorrt_options(requested["tensorrt"].parameters, device_id)))
        if CUDA_PROVIDER in available:
            cuda = requested.get("cuda")
            chosen.append((CUDA_PROVIDER, {"device_id": str(device_id), **(cuda.parameters if cuda else {})}))
    return [*chosen, (CPU_PROVIDER, {})]


# --- requests ---------------------------------------------------------------------------------------


def _tensor_problem(spec: TensorSpec, array: np.ndarray, batched: bool) -> str | None:
    if array.dtype != spec.dtype:
        return f"input '{spec.name}' has data type {array.dtype}, expected {spec.data_type}"
    expected = format_dims(spec.dims, batched)
    if array.ndim != len(spec.dims) + batched:
        return f"input '{spec.name}' has shape {list(array.shape)}, expected {expected}"
    if array.size == 0:
        return f"input '{spec.name}' is empty (shape {list(array.shape)})"
    dims = array.shape[1:] if batched else array.shape
    if any(want >= 0 and got != want for want, got in zip(spec.dims, dims, strict=True)):
        return f"input '{spec.name}' has shape {list(array.shape)}, expected {expected}"
    return None


def request_error(arrays: Arrays, specs: Sequence[TensorSpec], max_batch_size: int) -> str | None:
    """Why a request cannot run (missing input, data type, shape, size, batch), or None when it can."""
    batched = max_batch_size > 0
    batch_sizes = set()
    for spec in specs:
        array = arrays.get(spec.name)
        if array is None:
            if spec.optional:
                continue
            return f"missing input '{spec.name}'"
        problem = _tensor_problem(spec, array, batched)
        if problem:
            return problem
        if batched:
            batch_sizes.add(array.shape[0])
    if len(batch_sizes) > 1:
        return f"inputs disagree on the batch size: {sorted(batch_sizes)}"
    if batch_sizes and max(batch_sizes) > max_batch_size:
        return f"batch size {max(batch_sizes)} exceeds max_batch_size {max_batch_size}"
    return None


def batch_size(arrays: Arrays, batched: bool) -> int:
    """Rows a request contributes to a batch: its first dimension, or 1 for a model without batching."""
    return next(iter(arrays.values())).shape[0] if batched else 1


def batch_key(arrays: Arrays) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Requests with equal keys can be concatenated: the same inputs, with the same non-batch shapes."""
    return tuple(sorted((name, tuple(array.shape[1:])) for name, array in arrays.items()))


def plan_batches(keys: Sequence[Hashable], sizes: Sequence[int], max_batch_size: int) -> list[list[int]]:
    """Indices of the requests to run together, in arrival order.

    Requests share a run when their keys are equal and the run stays within ``max_batch_size`` rows
    (Triton's batcher already keeps to it; a sequence or default scheduler may not). With
    ``max_batch_size`` 0 the model has no batch dimension and every request runs alone.
    """
    if max_batch_size <= 0:
        return [[index] for index in range(len(keys))]
    open_runs: dict[Hashable, tuple[list[int], int]] = {}
    runs: list[list[int]] = []
    for index, (key, size) in enumerate(zip(keys, sizes, strict=True)):
        current = open_runs.get(key)
        if current is None or current[1] + size > max_batch_size:
            current = ([], 0)
            runs.append(current[0])
        current[0].append(index)
        open_runs[key] = (current[0], current[1] + size)
    return runs


def concatenate(batch: Sequence[Arrays]) -> dict[str, np.ndarray]:
    """One feed for a run; a single request is passed through without a copy."""
    if len(batch) == 1:
        return dict(batch[0])
    return {name: np.concatenate([arrays[name] for arrays in batch]) for name in batch[0]}


def rows_per_run(feed: Arrays, max_elements: int) -> int | None:
    """How many batch rows one run may take under ``max_elements`` (None: no limit, or no rows)."""
    if max_elements <= 0 or not feed:
        return None
    largest_row = max(int(np.prod(array.shape[1:])) for array in feed.values())
    return max(1, max_elements // max(1, largest_row))


def run_in_slices(run: Callable[[Arrays], Arrays], feed: Arrays, rows: int | None) -> Arrays:
    """``run`` on ``feed`` whole, or on consecutive slices of ``rows`` batch rows joined back."""
    total = len(next(iter(feed.values())))
    if rows is None or rows >= total:
        return run(feed)
    parts = [run({k: v[start : start + rows] for k, v in feed.items()}) for start in range(0, total, rows)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def split_outputs(outputs: Arrays, sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """Cut a run's outputs back into one dict per request, by each request's batch size."""
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ValueError(
                f"output '{name}' has shape {list(array.shape)}: expected its first dimension to be the "
                f"batch of {total}"
            )
    bounds = np.cumsum(sizes)[:-1]
    pieces = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: pieces[name][i] for name in outputs} for i in range(len(sizes))]
