"""The built model repository, checked against what the official Triton container does when it loads it.

``convert repository`` runs :func:`repository_problems` on the repository it has just written and fails
when any check finds a problem, so that a ``config.pbtxt`` that disagrees with its config record
(``ocrstack.config``), with its ONNX file, with the ensemble chain or with the project's batching rules is
caught at build time, before a server refuses to load it (or, worse, loads it and serves differently).

No Docker engine runs here, so these checks stand in for ``docker compose up triton``: they read every
``config.pbtxt`` the way ``tritonserver:24.10-py3`` (Triton 2.51, C++ onnxruntime backend with ONNX Runtime
1.19.2, python backend on Python 3.10) validates it at load time. The embedded server is the same Triton
version, but its onnxruntime backend is our Python-based one, which is more lenient than the C++ one about
ONNX files; the checks below follow the C++ backend's (``ValidateInputs``/``ValidateOutputs``) and the
core's ensemble rules (``ValidateEnsembleConfig``, ``ValidateEnsembleSchedulingConfig``), plus this
project's own rules for its config records (height, batching, GPU placement).

Every check is a function that returns the problems it finds (empty when there is none), so that
``tests/serving/test_repository_configs.py`` runs each one on the exported repository and on deliberately
broken copies of its configs.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from convert.export import output_names
from ocrstack.config import DETECTORS, RECOGNIZERS, record_name
from ocrstack.serving.repository import read_model_config

# ONNX Runtime 1.19.2 (the one in tritonserver:24.10) reads ONNX 1.16 files: IR version <= 10, opset <= 21.
ORT_MAX_IR_VERSION = 10
ORT_MAX_OPSET = 21
# Model-config parameters the C++ onnxruntime backend reads (its README). It ignores other keys without
# failing the load, so a typo would silently change behaviour in the container only.
ORT_BACKEND_PARAMETERS = frozenset(
    {
        "intra_op_thread_count",
        "inter_op_thread_count",
        "execution_mode",
        "enable_mem_arena",
        "enable_mem_pattern",
        "memory.enable_memory_arena_shrinkage",
        "session.use_device_allocator_for_initializers",
        "cudnn_conv_algo_search",
        "gpu_mem_limit",
        "arena_extend_strategy",
        "do_copy_in_default_stream",
    }
)
# Read by the embedded server's Python-based backend only (ocrstack.serving.ort_backend.model_config), by
# design: the container ignores them (see the comments there and in the configs).
EMBEDDED_ONLY_PARAMETERS = frozenset({"allow_spinning", "max_elements_per_run", "arena_budget_mib"})
MIN_RECOGNIZER_BATCH = 32
RECOGNIZER_HEIGHT = 48

TRITON_TO_ONNX = {
    mc.TYPE_BOOL: onnx.TensorProto.BOOL,
    mc.TYPE_UINT8: onnx.TensorProto.UINT8,
    mc.TYPE_UINT16: onnx.TensorProto.UINT16,
    mc.TYPE_UINT32: onnx.TensorProto.UINT32,
    mc.TYPE_UINT64: onnx.TensorProto.UINT64,
    mc.TYPE_INT8: onnx.TensorProto.INT8,
    mc.TYPE_INT16: onnx.TensorProto.INT16,
    mc.TYPE_INT32: onnx.TensorProto.INT32,
    mc.TYPE_INT64: onnx.TensorProto.INT64,
    mc.TYPE_FP16: onnx.TensorProto.FLOAT16,
    mc.TYPE_FP32: onnx.TensorProto.FLOAT,
    mc.TYPE_FP64: onnx.TensorProto.DOUBLE,
    mc.TYPE_STRING: onnx.TensorProto.STRING,
    mc.TYPE_BF16: onnx.TensorProto.BFLOAT16,
}

Tensor: TypeAlias = mc.ModelInput | mc.ModelOutput


# --- reading the repository -------------------------------------------------------------------------


def model_folders(repository: Path) -> list[Path]:
    return sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def version_folders(model_dir: Path) -> list[Path]:
    return sorted(
        (p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )


def parse_config(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


def load_configs(repository: Path) -> dict[str, mc.ModelConfig]:
    """Every parseable config by folder name (folder_problems reports the folders without one)."""
    folders = [f for f in model_folders(repository) if (f / "config.pbtxt").is_file()]
    return {folder.name: read_model_config(folder) for folder in folders}


def kind_of(config: mc.ModelConfig) -> str:
    if config.platform == "ensemble":
        return "ensemble"
    return config.backend or config.platform


def dims_of(tensor: Tensor) -> list[int]:
    return list(tensor.reshape.shape if tensor.HasField("reshape") else tensor.dims)


def compare_with_wildcard(a: Iterable[int], b: Iterable[int]) -> bool:
    """Triton's CompareDimsWithWildcard: same rank, each dim equal or either one -1."""
    a, b = list(a), list(b)
    return len(a) == len(b) and all(x == y or -1 in (x, y) for x, y in zip(a, b, strict=True))


# --- checks: one function per rule, each returning the problems found --------------------------------


def folder_problems(folder: Path) -> list[str]:
    """config.pbtxt present and parseable, named after its folder, with a numbered version folder."""
    path = folder / "config.pbtxt"
    if not path.is_file():
        return [f"{folder.name}: no config.pbtxt"]
    try:
        config = parse_config(path.read_text())
    except text_format.ParseError as error:
        return [f"{folder.name}: config.pbtxt does not parse: {error}"]
    problems = []
    if config.name != folder.name:
        problems.append(f"{folder.name}: config name {config.name!r} differs from its folder")
    if not version_folders(folder):
        problems.append(f"{folder.name}: no numbered version folder")
    return problems


def io_problems(config: mc.ModelConfig) -> list[str]:
    """Triton's ValidateIOShape: a name, a data type and dims of -1 or >= 1 for every tensor."""
    problems = []
    for kind, tensors in (("input", config.input), ("output", config.output)):
        if not tensors:
            problems.append(f"{config.name}: no {kind}s")
        for tensor in tensors:
            where = f"{config.name}: {kind} {tensor.name!r}"
            if not tensor.name:
                problems.append(f"{config.name}: {kind} without a name")
            if tensor.data_type == mc.TYPE_INVALID:
                problems.append(f"{where} has no data_type")
            if not tensor.dims:
                problems.append(f"{where} has no dims")
            if any(d < 1 and d != -1 for d in tensor.dims):
                problems.append(f"{where} has dims {list(tensor.dims)}: each must be -1 or >= 1")
    batching = config.dynamic_batching
    if config.HasField("dynamic_batching") and any(
        size > config.max_batch_size for size in batching.preferred_batch_size
    ):
        problems.append(f"{config.name}: a preferred_batch_size exceeds max_batch_size")
    return problems


@dataclass(frozen=True)
class OnnxTensor:
    elem_type: int
    dims: tuple[int | None, ...]  # None: a symbolic (dynamic) dimension


def onnx_tensors(values: Iterable[onnx.ValueInfoProto], skip: set[str]) -> dict[str, OnnxTensor]:
    tensors = {}
    for value in values:
        if value.name in skip:
            continue
        tensor_type = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
        tensors[value.name] = OnnxTensor(tensor_type.elem_type, dims)
    return tensors


def tensor_vs_onnx(
    name: str, kind: str, tensor: Tensor, found: OnnxTensor | None, batching: bool
) -> list[str]:
    where = f"{name}: {kind} {tensor.name!r}"
    if found is None:
        return [f"{where} is not in the ONNX file"]
    problems = []
    if TRITON_TO_ONNX.get(tensor.data_type) != found.elem_type:
        onnx_type = onnx.TensorProto.DataType.Name(found.elem_type)
        problems.append(f"{where} is {mc.DataType.Name(tensor.data_type)} but ONNX has {onnx_type}")
    onnx_dims = list(found.dims)
    if batching:
        if not onnx_dims or onnx_dims[0] is not None:
            problems.append(f"{where}: max_batch_size > 0 but the ONNX batch dimension is not dynamic")
        onnx_dims = onnx_dims[1:]
    config_dims = dims_of(tensor)
    if len(config_dims) != len(onnx_dims):
        batch_note = " after the batch dimension" if batching else ""
        problems.append(f"{where} has rank {len(config_dims)}, ONNX {len(onnx_dims)}{batch_note}")
        return problems
    for axis, (ours, theirs) in enumerate(zip(config_dims, onnx_dims, strict=True)):
        if theirs is None and ours != -1:
            problems.append(f"{where} dim {axis} is {ours} but dynamic in ONNX (must be -1)")
        elif theirs is not None and ours != theirs:
            problems.append(f"{where} dim {axis} is {ours} but {theirs} in ONNX")
    return problems


def onnx_problems(config: mc.ModelConfig, model: onnx.ModelProto) -> list[str]:
    """What the C++ onnxruntime backend checks at load time, plus what its ONNX Runtime can read."""
    name = config.name
    problems = []
    if model.ir_version > ORT_MAX_IR_VERSION:
        problems.append(f"{name}: ONNX IR version {model.ir_version} > {ORT_MAX_IR_VERSION} (ORT 1.19.2)")
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > ORT_MAX_OPSET:
            problems.append(f"{name}: opset {opset.version} > {ORT_MAX_OPSET} (ORT 1.19.2)")
    initializers = {i.name for i in model.graph.initializer}
    inputs = onnx_tensors(model.graph.input, initializers)
    outputs = onnx_tensors(model.graph.output, set())
    batching = config.max_batch_size > 0
    if len(config.input) != len(inputs):
        problems.append(f"{name}: config has {len(config.input)} inputs, ONNX {sorted(inputs)}")
    for tensor in config.input:
        if tensor.optional and batching:
            problems.append(f"{name}: optional input {tensor.name!r} in a batching ONNX model")
        problems += tensor_vs_onnx(name, "input", tensor, inputs.get(tensor.name), batching)
    for tensor in config.output:
        problems += tensor_vs_onnx(name, "output", tensor, outputs.get(tensor.name), batching)
    unknown = set(config.parameters) - ORT_BACKEND_PARAMETERS - EMBEDDED_ONLY_PARAMETERS
    if unknown:
        problems.append(f"{name}: parameters no onnxruntime backend reads: {sorted(unknown)}")
    return problems


def record_problems(config: mc.ModelConfig) -> list[str]:
    """The config agrees with the model's config record in ocrstack/config.py and batches as intended."""
    served_name = config.name
    name = record_name(served_name)  # a recognizer's sequential twin is checked against its record
    twin = name != served_name
    record = DETECTORS.get(name) or RECOGNIZERS.get(name)
    if record is None:
        return [f"{name}: no config record in ocrstack.config"]
    problems = []
    if [t.name for t in config.input] != [record.input_name]:
        problems.append(
            f"{name}: inputs {[t.name for t in config.input]} != record's [{record.input_name!r}]"
        )
    if [t.name for t in config.output] != output_names(record):
        problems.append(
            f"{name}: outputs {[t.name for t in config.output]} != record's {output_names(record)}"
        )
    if config.max_batch_size <= 0:
        problems.append(f"{name}: max_batch_size must be > 0 so that Triton batches requests")
    if twin and config.HasField("dynamic_batching"):
        problems.append(f"{served_name}: a sequential twin must run one request per execution")
    if name in DETECTORS:
        if not config.HasField("dynamic_batching"):
            problems.append(f"{name}: no dynamic_batching")
        elif config.dynamic_batching.max_queue_delay_microseconds <= 0:
            problems.append(f"{name}: dynamic_batching sets no max_queue_delay_microseconds")
        for tensor in [*config.input, *config.output]:
            if dims_of(tensor)[-2:] != [-1, -1]:
                problems.append(
                    f"{name}: {tensor.name!r} must have dynamic spatial dims, has {dims_of(tensor)}"
                )
        return problems
    recognizer = RECOGNIZERS[name]
    if recognizer.height != RECOGNIZER_HEIGHT:
        problems.append(f"{name}: record height {recognizer.height} != {RECOGNIZER_HEIGHT}")
    for tensor in config.input:
        if dims_of(tensor) != [3, recognizer.height, -1]:
            problems.append(f"{name}: input dims {dims_of(tensor)} != [3, {recognizer.height}, -1]")
    if config.max_batch_size < MIN_RECOGNIZER_BATCH:
        problems.append(f"{name}: max_batch_size {config.max_batch_size} < {MIN_RECOGNIZER_BATCH}")
    if not twin and config.HasField("dynamic_batching"):
        # The committed configs are for CPUs, where a merged batch makes a crop no cheaper and the batcher
        # polls (the config's comment); deploy/prepare_repository.py adds one for the GPU engines.
        problems.append(f"{name}: a dynamic_batching block in the CPU config")
    return problems


def instance_problems(config: mc.ModelConfig) -> list[str]:
    """ONNX models leave the instance kind to Triton: GPU instances where a GPU exists, CPU otherwise."""
    problems = []
    for group in config.instance_group:
        if group.kind != mc.ModelInstanceGroup.KIND_AUTO:
            kind = mc.ModelInstanceGroup.Kind.Name(group.kind)
            problems.append(f"{config.name}: instance_group pins kind {kind}")
        if group.gpus:
            problems.append(f"{config.name}: instance_group pins gpus {list(group.gpus)}")
    return problems


@dataclass(frozen=True)
class TensorNode:
    """An ensemble tensor as Triton's ensemble check sees it: where its type and shape were inferred from."""

    model: str
    data_type: int
    dims: tuple[int, ...]
    full_dims: tuple[int, ...]  # with the batch dimension when the model batches

    @classmethod
    def of(cls, model: str, batching: bool, tensor: Tensor) -> TensorNode:
        dims = tuple(dims_of(tensor))
        return cls(model, tensor.data_type, dims, (-1, *dims) if batching else dims)


def consistency_problem(ensemble: str, tensor: str, a: TensorNode, b: TensorNode) -> str | None:
    """Triton's ValidateTensorConsistency."""
    where = f"{ensemble}: ensemble tensor {tensor!r}"
    if a.data_type != b.data_type:
        types = f"{mc.DataType.Name(a.data_type)} ({a.model}) vs {mc.DataType.Name(b.data_type)} ({b.model})"
        return f"{where}: inconsistent data type: {types}"
    if not compare_with_wildcard(a.dims, b.dims) and not compare_with_wildcard(a.full_dims, b.full_dims):
        return (
            f"{where}: inconsistent shape: {list(a.full_dims)} ({a.model}) vs {list(b.full_dims)} ({b.model})"
        )
    return None


def ensemble_problems(
    config: mc.ModelConfig, configs: dict[str, mc.ModelConfig], versions: dict[str, set[int]]
) -> list[str]:
    """Triton's ValidateEnsembleConfig: steps name existing models and map only their tensors, with data
    types equal and shapes compatible along the chain; plus the data flow rules."""
    name = config.name
    problems = []
    if config.platform != "ensemble":
        problems.append(f"{name}: ensemble_scheduling needs platform 'ensemble'")
    if config.instance_group:
        problems.append(f"{name}: instance_group must not be set on an ensemble")
    steps = config.ensemble_scheduling.step
    if not steps:
        return [*problems, f"{name}: no ensemble steps"]
    batching = config.max_batch_size > 0
    tensors: dict[str, TensorNode] = {}
    for tensor in [*config.input, *config.output]:
        tensors.setdefault(tensor.name, TensorNode.of(name, batching, tensor))

    def meet(tensor: str, node: TensorNode) -> None:
        known = tensors.setdefault(tensor, node)
        problem = None if known is node else consistency_problem(name, tensor, known, node)
        if problem:
            problems.append(problem)

    for index, step in enumerate(steps):
        target = configs.get(step.model_name)
        where = f"{name}: step {index} ({step.model_name!r})"
        if target is None:
            problems.append(f"{where} references a model that is not in the repository")
            continue
        if step.model_version != -1 and step.model_version not in versions.get(step.model_name, set()):
            problems.append(f"{where} asks for version {step.model_version}, which has no folder")
        if 0 < target.max_batch_size < config.max_batch_size:
            problems.append(f"{where} allows batches of {target.max_batch_size} < the ensemble's")
        step_batching = target.max_batch_size > 0
        inputs = {t.name: t for t in target.input}
        outputs = {t.name: t for t in target.output}
        for key, tensor in step.input_map.items():
            if key not in inputs:
                problems.append(f"{where} maps {tensor!r} to input {key!r}, which the model does not have")
            else:
                meet(tensor, TensorNode.of(target.name, step_batching, inputs[key]))
        problems += [f"{where}: input {key!r} is not mapped" for key in inputs if key not in step.input_map]
        for key, tensor in step.output_map.items():
            if key not in outputs:
                problems.append(f"{where} maps output {key!r}, which the model does not have, to {tensor!r}")
            else:
                meet(tensor, TensorNode.of(target.name, step_batching, outputs[key]))
    return problems + dataflow_problems(config)


def dataflow_problems(config: mc.ModelConfig) -> list[str]:
    """Triton's ValidateEnsembleSchedulingConfig: every ensemble input used, every output written, every
    intermediate tensor produced once and consumed."""
    name = config.name
    steps = config.ensemble_scheduling.step
    problems = []
    producers: dict[str, int] = {}
    for index, step in enumerate(steps):
        if not step.model_name or not step.input_map or not step.output_map:
            problems.append(f"{name}: step {index} needs model_name, input_map and output_map")
        for tensor in step.output_map.values():
            if tensor in producers:
                problems.append(f"{name}: ensemble tensor {tensor!r} is written by two steps")
            producers.setdefault(tensor, index)
    ready = {t.name for t in config.input}
    pending = list(steps)
    while True:
        runnable = [s for s in pending if set(s.input_map.values()) <= ready]
        if not runnable:
            break
        for step in runnable:
            ready |= set(step.output_map.values())
            pending.remove(step)
    consumed = {tensor for step in steps for tensor in step.input_map.values()}
    outputs = {t.name for t in config.output}
    problems += [
        f"{name}: ensemble input {t.name!r} is not used" for t in config.input if t.name not in consumed
    ]
    problems += [f"{name}: ensemble output {t!r} is not written" for t in sorted(outputs - ready)]
    intermediate = (set(producers) | consumed) - outputs - {t.name for t in config.input}
    problems += [
        f"{name}: ensemble tensor {t!r} is unused or never produced"
        for t in sorted(intermediate)
        if t not in ready or t not in consumed
    ]
    return problems


def module_source(module: str) -> Path | None:
    """The file a module would be imported from, found without importing it (its parents are imported)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def defines_class(source: Path, class_name: str) -> bool:
    tree = ast.parse(source.read_text())
    return any(isinstance(node, ast.ClassDef) and node.name == class_name for node in tree.body)


def python_model_problems(model_dir: Path) -> list[str]:
    """Each version's model.py imports a TritonPythonModel from a module that exists and defines it."""
    problems = []
    for version in version_folders(model_dir):
        source = version / "model.py"
        where = f"{model_dir.name}/{version.name}/model.py"
        if not source.is_file():
            problems.append(f"{where} is missing")
            continue
        tree = ast.parse(source.read_text())
        targets = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and any(alias.name == "TritonPythonModel" for alias in node.names)
        ]
        if not targets and not defines_class(source, "TritonPythonModel"):
            problems.append(f"{where} neither defines nor imports TritonPythonModel")
        for module in targets:
            origin = module_source(module)
            if origin is None:
                problems.append(f"{where} imports from {module!r}, which is not installed")
            elif not defines_class(origin, "TritonPythonModel"):
                problems.append(f"{where}: {module!r} defines no class TritonPythonModel")
    return problems


def version_problems(model_dir: Path, config: mc.ModelConfig) -> list[str]:
    """The file each backend loads from a version folder is there."""
    expected = {"onnxruntime": "model.onnx", "python": "model.py"}.get(kind_of(config))
    if expected is None:
        return []
    filename = config.default_model_filename or expected
    return [
        f"{model_dir.name}/{version.name}/{filename} is missing"
        for version in version_folders(model_dir)
        if not (version / filename).exists()
    ]


# --- the whole repository ----------------------------------------------------------------------------

# The kinds of model the checks above cover. A model of another backend would load in the container
# unchecked: add its checks first.
CHECKED_KINDS = frozenset({"onnxruntime", "python", "ensemble"})


def model_versions(repository: Path) -> dict[str, set[int]]:
    """The version numbers each model folder holds, by folder name (what ensemble steps may ask for)."""
    return {f.name: {int(v.name) for v in version_folders(f)} for f in model_folders(repository)}


def onnx_model(repository: Path, name: str, filename: str = "model.onnx") -> onnx.ModelProto:
    """The latest version's ONNX file, its graph only (external weights are not needed to check it)."""
    versions = version_folders(repository / name)
    return onnx.load(str(versions[-1] / filename), load_external_data=False)


def readable_configs(repository: Path) -> dict[str, mc.ModelConfig]:
    """The configs that parse, by folder name; folder_problems reports the others."""
    configs = {}
    for folder in model_folders(repository):
        try:
            configs[folder.name] = read_model_config(folder)
        except (OSError, text_format.ParseError):
            continue
    return configs


def kind_problems(config: mc.ModelConfig) -> list[str]:
    """The model is of a kind the checks here cover."""
    kind = kind_of(config)
    if kind in CHECKED_KINDS:
        return []
    return [f"{config.name}: {kind!r} models are not checked here and would load in the container unchecked"]


def model_problems(
    repository: Path,
    config: mc.ModelConfig,
    configs: dict[str, mc.ModelConfig],
    versions: dict[str, set[int]],
) -> list[str]:
    """The checks for one model's kind: an ONNX model against its file, its config record and the GPU
    placement rule; an ensemble along its chain; a python model's import."""
    name = config.name
    kind = kind_of(config)
    if kind == "ensemble":
        return ensemble_problems(config, configs, versions)
    if kind == "python":
        return python_model_problems(repository / name)
    if kind != "onnxruntime":
        return kind_problems(config)
    problems = record_problems(config) + instance_problems(config)
    folders = version_folders(repository / name)
    filename = config.default_model_filename or "model.onnx"
    if folders and (folders[-1] / filename).is_file():  # else version_problems reports it
        try:
            model = onnx_model(repository, name, filename)
        except Exception as error:  # a truncated or foreign file: reported, not raised
            return [*problems, f"{name}/{folders[-1].name}/{filename} does not load: {error}"]
        problems += onnx_problems(config, model)
    return problems


def repository_problems(repository: Path) -> list[str]:
    """Every check above, over every model folder of a built repository: empty when the container would
    load the repository as this project means it to."""
    folders = model_folders(repository)
    problems = [p for folder in folders for p in folder_problems(folder)]
    configs = readable_configs(repository)
    versions = model_versions(repository)
    for name, config in configs.items():
        problems += io_problems(config)
        problems += version_problems(repository / name, config)
        problems += model_problems(repository, config, configs, versions)
    return problems
