"""The model repository, checked statically against what the official Triton container does when it loads it.

No Docker engine runs here, so these tests stand in for ``docker compose up triton``: they read every
``config.pbtxt`` the way ``tritonserver:24.10-py3`` (Triton 2.51, C++ onnxruntime backend with ONNX Runtime
1.19.2, python backend on Python 3.10) validates it at load time. The embedded server is the same Triton
version, but its onnxruntime backend is our Python-based one, which is more lenient than the C++ one about
ONNX files; the checks below follow the C++ backend's (``ValidateInputs``/``ValidateOutputs``) and the
core's ensemble rules (``ValidateEnsembleConfig``, ``ValidateEnsembleSchedulingConfig``), plus this
project's own rules for its config records (height, batching, GPU placement).

Every check is a function that returns the problems it finds, so that each is also run on a deliberately
broken copy of a real config and shown to fail.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from convert.export import output_names
from ocrstack.config import DETECTORS, RECOGNIZERS, record_name, sequential_name
from ocrstack.serving.repository import read_model_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_REPOSITORY = REPO_ROOT / "model_repository"
DOCKERFILE = REPO_ROOT / "docker" / "triton.Dockerfile"

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

Tensor = mc.ModelInput | mc.ModelOutput


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


def names_by_kind(kind: str) -> list[str]:
    """Model names of one kind, read from the committed configs so that tests can be parametrized."""
    return sorted(name for name, config in load_configs(SOURCE_REPOSITORY).items() if kind_of(config) == kind)


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


# --- the repository as the container would load it ---------------------------------------------------


@pytest.fixture(scope="module")
def configs(exported_repository: Path) -> dict[str, mc.ModelConfig]:
    return load_configs(exported_repository)


@pytest.fixture(scope="module")
def versions(exported_repository: Path) -> dict[str, set[int]]:
    return {f.name: {int(v.name) for v in version_folders(f)} for f in model_folders(exported_repository)}


def onnx_model(repository: Path, name: str) -> onnx.ModelProto:
    versions = version_folders(repository / name)
    return onnx.load(str(versions[-1] / "model.onnx"), load_external_data=False)


def test_the_repository_holds_the_models_the_pipeline_needs(exported_repository: Path) -> None:
    names = {f.name for f in model_folders(exported_repository)}
    expected = {"preprocess", "text_detection", "crop_recognize", "crop_recognize_sequential", "ocr"}
    assert expected | {"ocr_sequential"} <= names
    assert names & set(RECOGNIZERS), "no recognizer in the repository"


def test_each_recognizer_has_an_unbatched_twin_generated_from_its_config(
    configs: dict[str, mc.ModelConfig], exported_repository: Path
) -> None:
    """The sequential mode's recognizers: the batched config without dynamic batching, the same file."""
    recognizers = sorted(set(RECOGNIZERS) & set(configs))
    assert recognizers
    for name in recognizers:
        twin = configs[sequential_name(name)]
        expected = copy.deepcopy(configs[name])
        expected.name = twin.name
        expected.ClearField("dynamic_batching")
        assert twin == expected, name
        files = [exported_repository / n / "1" / "model.onnx" for n in (name, twin.name)]
        assert files[0].read_bytes() == files[1].read_bytes(), name


def test_every_folder_has_a_config_named_after_it(exported_repository: Path) -> None:
    problems = [p for folder in model_folders(exported_repository) for p in folder_problems(folder)]
    assert problems == []


def test_every_config_declares_valid_tensors(configs: dict[str, mc.ModelConfig]) -> None:
    problems = [p for config in configs.values() for p in io_problems(config)]
    assert problems == []


def test_every_version_folder_holds_its_model_file(
    exported_repository: Path, configs: dict[str, mc.ModelConfig]
) -> None:
    problems = [
        p for name, config in configs.items() for p in version_problems(exported_repository / name, config)
    ]
    assert problems == []


@pytest.mark.parametrize("name", names_by_kind("onnxruntime"))
def test_onnx_model_matches_its_exported_file(
    name: str, exported_repository: Path, configs: dict[str, mc.ModelConfig]
) -> None:
    assert onnx_problems(configs[name], onnx_model(exported_repository, name)) == []


@pytest.mark.parametrize("name", names_by_kind("onnxruntime"))
def test_onnx_model_matches_its_config_record(name: str, configs: dict[str, mc.ModelConfig]) -> None:
    assert record_problems(configs[name]) == []


@pytest.mark.parametrize("name", names_by_kind("onnxruntime"))
def test_onnx_model_lets_triton_choose_gpu_instances(name: str, configs: dict[str, mc.ModelConfig]) -> None:
    assert instance_problems(configs[name]) == []


@pytest.mark.parametrize("name", names_by_kind("ensemble"))
def test_ensemble_chain_is_consistent(
    name: str, configs: dict[str, mc.ModelConfig], versions: dict[str, set[int]]
) -> None:
    assert ensemble_problems(configs[name], configs, versions) == []


@pytest.mark.parametrize("name", names_by_kind("python"))
def test_python_model_imports_an_existing_module(name: str, exported_repository: Path) -> None:
    assert python_model_problems(exported_repository / name) == []


def test_every_model_is_covered_by_a_check(configs: dict[str, mc.ModelConfig]) -> None:
    """A model of another backend would load in the container unchecked here: add its checks first."""
    assert {kind_of(config) for config in configs.values()} <= {"onnxruntime", "python", "ensemble"}


# --- the container image has what the python models import, and no torch ----------------------------

# Distribution (as pinned in docker/triton.Dockerfile) -> the top-level module it provides.
DISTRIBUTION_MODULES = {
    "numpy": "numpy",
    "opencv-python-headless": "cv2",
    "pillow": "PIL",
    "pyclipper": "pyclipper",
    "shapely": "shapely",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "tritonclient": "tritonclient",
    "protobuf": "google",
}
STUB_MODULES = {"triton_python_backend_utils"}  # provided by the python backend stub at run time


def dockerfile_pins(text: str) -> dict[str, str]:
    """``name==version`` pins (extras dropped) in a Dockerfile."""
    pins = re.findall(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\[[^\]]*\])?==([0-9][\w.]*)", text)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def module_file(root: Path, module: str) -> Path | None:
    """``ocrstack.a.b`` -> ``<root>/a/b.py`` or ``<root>/a/b/__init__.py``, found on disk, not imported."""
    base = root.joinpath(*module.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: Path, module: str) -> set[str]:
    """Absolute names of every module ``source`` imports, at any depth (function-level imports too)."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {
                f"{base}.{alias.name}" for alias in node.names
            }  # submodules; non-modules drop out below
    return found


def third_party_imports(modules: Iterable[str], package: str = "ocrstack") -> set[str]:
    """Top-level non-stdlib modules that ``modules`` reach through ``package``'s imports (read, not run)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    queue, seen, outside = list(modules), set(), set()
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if top != package:
            if top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
            continue
        parts = module.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its parents
        source = module_file(root, module)
        if source is not None:
            queue += [
                m
                for m in imported_modules(source, module)
                if m.split(".")[0] != package or module_file(root, m)
            ]
    return outside


def served_modules(repository: Path) -> list[str]:
    """The modules the repository's python models import their TritonPythonModel from."""
    modules = []
    for folder in model_folders(repository):
        for source in folder.glob("[0-9]*/model.py"):
            tree = ast.parse(source.read_text())
            modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    return sorted(set(modules))


def test_image_installs_what_the_python_models_import_and_no_torch() -> None:
    pins = dockerfile_pins(DOCKERFILE.read_text())
    installed = {DISTRIBUTION_MODULES[name] for name in pins if name in DISTRIBUTION_MODULES}
    needed = third_party_imports(served_modules(SOURCE_REPOSITORY))
    assert "torch" not in needed, "a served module imports torch, which the image does not install"
    assert needed - STUB_MODULES <= installed, (
        f"missing in {DOCKERFILE.name}: {needed - STUB_MODULES - installed}"
    )
    assert "torch" not in pins
    assert pins.get("numpy", "").startswith("1."), "the 24.10 python backend stub needs numpy 1.x"


# --- the checks fail on broken configs ---------------------------------------------------------------


def broken(config: mc.ModelConfig, change: Callable[[mc.ModelConfig], object]) -> mc.ModelConfig:
    copied = copy.deepcopy(config)
    change(copied)
    return copied


def rename_input(config: mc.ModelConfig) -> None:
    config.input[0].name = "images"


def fp16_input(config: mc.ModelConfig) -> None:
    config.input[0].data_type = mc.TYPE_FP16


def drop_batching(config: mc.ModelConfig) -> None:
    config.max_batch_size = 0


def fixed_spatial_dims(config: mc.ModelConfig) -> None:
    del config.input[0].dims[:]
    config.input[0].dims.extend([3, 640, 640])


def pin_cpu(config: mc.ModelConfig) -> None:
    config.instance_group[0].kind = mc.ModelInstanceGroup.KIND_CPU


def unknown_parameter(config: mc.ModelConfig) -> None:
    config.parameters["intra_op_threads"].string_value = "2"


def no_dynamic_batching(c: mc.ModelConfig) -> None:
    c.ClearField("dynamic_batching")


def no_queue_delay(c: mc.ModelConfig) -> None:
    c.dynamic_batching.max_queue_delay_microseconds = 0


def test_onnx_checks_fail_on_a_broken_detector_config(
    exported_repository: Path, configs: dict[str, mc.ModelConfig]
) -> None:
    name = next(iter(DETECTORS))
    model = onnx_model(exported_repository, name)
    config = configs[name]
    assert any("not in the ONNX file" in p for p in onnx_problems(broken(config, rename_input), model))
    assert any(
        "is TYPE_FP16 but ONNX has FLOAT" in p for p in onnx_problems(broken(config, fp16_input), model)
    )
    assert any("has rank 3, ONNX 4" in p for p in onnx_problems(broken(config, drop_batching), model))
    assert any("must be -1" in p for p in onnx_problems(broken(config, fixed_spatial_dims), model))
    assert any(
        "no onnxruntime backend reads" in p for p in onnx_problems(broken(config, unknown_parameter), model)
    )
    assert any("pins kind KIND_CPU" in p for p in instance_problems(broken(config, pin_cpu)))
    assert any("dynamic spatial dims" in p for p in record_problems(broken(config, fixed_spatial_dims)))
    assert any("max_batch_size must be > 0" in p for p in record_problems(broken(config, drop_batching)))
    assert any("record's" in p for p in record_problems(broken(config, rename_input)))
    assert any("no dynamic_batching" in p for p in record_problems(broken(config, no_dynamic_batching)))
    assert any("max_queue_delay" in p for p in record_problems(broken(config, no_queue_delay)))


def test_onnx_checks_fail_on_a_broken_recognizer_config(
    exported_repository: Path, configs: dict[str, mc.ModelConfig]
) -> None:
    name = next(n for n in sorted(RECOGNIZERS) if n in configs)
    model = onnx_model(exported_repository, name)
    config = configs[name]

    def height_32(c: mc.ModelConfig) -> None:
        c.input[0].dims[1] = 32

    def small_batches(c: mc.ModelConfig) -> None:
        c.max_batch_size = 8

    def batcher(c: mc.ModelConfig) -> None:
        c.dynamic_batching.max_queue_delay_microseconds = 3000

    def rename_output(c: mc.ModelConfig) -> None:
        c.output[0].name = "logits"

    assert any("dim 1 is 32 but 48 in ONNX" in p for p in onnx_problems(broken(config, height_32), model))
    assert any("!= [3, 48, -1]" in p for p in record_problems(broken(config, height_32)))
    assert any("< 32" in p for p in record_problems(broken(config, small_batches)))
    assert any("dynamic_batching block" in p for p in record_problems(broken(config, batcher)))
    assert any(
        "output 'logits' is not in the ONNX file" in p
        for p in onnx_problems(broken(config, rename_output), model)
    )


def test_onnx_checks_fail_on_a_file_the_container_cannot_read(
    exported_repository: Path, configs: dict[str, mc.ModelConfig]
) -> None:
    name = next(iter(DETECTORS))
    model = onnx_model(exported_repository, name)
    model.ir_version = ORT_MAX_IR_VERSION + 1
    model.opset_import[0].version = ORT_MAX_OPSET + 1
    problems = onnx_problems(configs[name], model)
    assert any("IR version" in p for p in problems)
    assert any("opset" in p for p in problems)


def test_ensemble_checks_fail_on_a_broken_chain(
    configs: dict[str, mc.ModelConfig], versions: dict[str, set[int]]
) -> None:
    ocr = configs["ocr"]

    def missing_model(c: mc.ModelConfig) -> None:
        c.ensemble_scheduling.step[1].model_name = "text_detection_v2"

    def wrong_input_key(c: mc.ModelConfig) -> None:
        step = c.ensemble_scheduling.step[1]
        del step.input_map["image"]
        step.input_map["input"] = "detection_input"

    def wrong_output_key(c: mc.ModelConfig) -> None:
        step = c.ensemble_scheduling.step[1]
        del step.output_map["probability"]
        step.output_map["probabilities"] = "probability"

    def int_image(c: mc.ModelConfig) -> None:
        c.input[0].data_type = mc.TYPE_INT8

    def float_scores(c: mc.ModelConfig) -> None:
        c.output[2].data_type = mc.TYPE_FP64

    def rank_mismatch(c: mc.ModelConfig) -> None:
        c.output[0].dims.append(1)

    def unwritten_output(c: mc.ModelConfig) -> None:
        del c.ensemble_scheduling.step[2].output_map["scores"]

    def no_version(c: mc.ModelConfig) -> None:
        c.ensemble_scheduling.step[0].model_version = 7

    cases = {
        missing_model: "not in the repository",
        wrong_input_key: "input 'image' is not mapped",
        wrong_output_key: "which the model does not have",
        int_image: "inconsistent data type: TYPE_INT8 (ocr) vs TYPE_UINT8 (preprocess)",
        float_scores: "inconsistent data type",
        rank_mismatch: "inconsistent shape",
        unwritten_output: "ensemble output 'scores' is not written",
        no_version: "version 7",
    }
    for change, expected in cases.items():
        problems = ensemble_problems(broken(ocr, change), configs, versions)
        assert any(expected in p for p in problems), (change.__name__, problems)


def test_ensemble_check_follows_the_tensor_through_the_chain(
    configs: dict[str, mc.ModelConfig], versions: dict[str, set[int]]
) -> None:
    """A data type changed in the middle model is caught on both sides of it."""
    changed = dict(configs)
    changed["text_detection"] = broken(configs["text_detection"], fp16_input)
    problems = ensemble_problems(configs["ocr"], changed, versions)
    assert any("'detection_input'" in p and "TYPE_FP16" in p for p in problems), problems
    changed["text_detection"] = broken(
        configs["text_detection"], lambda c: c.output[0].dims.__setitem__(0, 2)
    )
    problems = ensemble_problems(configs["ocr"], changed, versions)
    assert any("'probability': inconsistent shape" in p for p in problems), problems


def test_folder_and_python_model_checks_fail(tmp_path: Path) -> None:
    folder = tmp_path / "preprocess"
    (folder / "1").mkdir(parents=True)
    (folder / "config.pbtxt").write_text('name: "preprocessing"\nbackend: "python"\n')
    assert any("differs from its folder" in p for p in folder_problems(folder))
    (folder / "config.pbtxt").write_text('name: "preprocess"\nbackend: "python"\nmax_batch_size: [\n')
    assert any("does not parse" in p for p in folder_problems(folder))
    assert any("model.py is missing" in p for p in python_model_problems(folder))
    (folder / "1" / "model.py").write_text("from ocrstack.serving.no_such_model import TritonPythonModel\n")
    assert any("not installed" in p for p in python_model_problems(folder))
    (folder / "1" / "model.py").write_text("from ocrstack.config import TritonPythonModel\n")
    assert any("defines no class" in p for p in python_model_problems(folder))
    empty = tmp_path / "ocr"
    empty.mkdir()
    (empty / "config.pbtxt").write_text('name: "ocr"\nplatform: "ensemble"\n')
    assert any("no numbered version folder" in p for p in folder_problems(empty))


def test_image_check_sees_torch_and_missing_packages() -> None:
    assert dockerfile_pins("pip install numpy==1.26.4 'tritonclient[grpc]==2.73.0' onnx==1.23.2") == {
        "numpy": "1.26.4",
        "tritonclient": "2.73.0",
        "onnx": "1.23.2",
    }
    # ocrstack.models holds the PyTorch modules: reaching it must show torch as needed.
    assert "torch" in third_party_imports(["ocrstack.models"])
    assert {"cv2", "numpy"} <= third_party_imports(["ocrstack.pipeline.image_io"])
