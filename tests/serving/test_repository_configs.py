"""The model repository, checked statically against what the official Triton container does when it loads it.

The checks live in ``convert.repository_checks`` (its docstring says what they follow), where
``convert repository`` runs them all on the repository it builds; here each one runs on the repository this
test session exported, model by model, and on a deliberately broken copy of a real config, shown to fail.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import tomllib
from tritonclient.grpc import model_config_pb2 as mc

from convert.repository_checks import (
    ORT_MAX_IR_VERSION,
    ORT_MAX_OPSET,
    ensemble_problems,
    folder_problems,
    instance_problems,
    io_problems,
    kind_of,
    load_configs,
    model_folders,
    model_versions,
    onnx_model,
    onnx_problems,
    python_model_problems,
    record_problems,
    version_problems,
)
from devtools.imports import third_party_imports
from devtools.pins import requirements_for
from ocrstack.config import DETECTORS, RECOGNIZERS, sequential_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_REPOSITORY = REPO_ROOT / "model_repository"
# The base list of pyproject.toml, which docker/triton.Dockerfile installs and nothing else.
BASE_DEPENDENCIES = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def names_by_kind(kind: str) -> list[str]:
    """Model names of one kind, read from the committed configs so that tests can be parametrized."""
    return sorted(name for name, config in load_configs(SOURCE_REPOSITORY).items() if kind_of(config) == kind)


# --- the repository as the container would load it ---------------------------------------------------


@pytest.fixture(scope="module")
def configs(exported_repository: Path) -> dict[str, mc.ModelConfig]:
    return load_configs(exported_repository)


@pytest.fixture(scope="module")
def versions(exported_repository: Path) -> dict[str, set[int]]:
    return model_versions(exported_repository)


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

# Distribution (as the base list of pyproject.toml names it) -> the top-level module it provides.
DISTRIBUTION_MODULES = {
    "numpy": "numpy",
    "opencv-python-headless": "cv2",
    "pillow": "PIL",
    "pyclipper": "pyclipper",
    "shapely": "shapely",
    "fonttools": "fontTools",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "tritonclient": "tritonclient",
    "protobuf": "google",
}
# What tritonclient[grpc] brings that the python models use (config.pbtxt parsing).
EXTRA_MODULES = {"tritonclient": {"google"}}
STUB_MODULES = {"triton_python_backend_utils"}  # provided by the python backend stub at run time


def image_pins(requirements: Iterable[str], python: str = "3.10") -> dict[str, str]:
    """``name -> version`` of the requirements that apply on the image's Python (markers evaluated)."""
    pins = {}
    for name, requirement in requirements_for(requirements, python).items():
        (specifier,) = requirement.specifier  # one exact pin each
        pins[name] = specifier.version
    return pins


def served_modules(repository: Path) -> list[str]:
    """The modules the repository's python models import their TritonPythonModel from."""
    modules = []
    for folder in model_folders(repository):
        for source in folder.glob("[0-9]*/model.py"):
            tree = ast.parse(source.read_text())
            modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    return sorted(set(modules))


def test_image_installs_what_the_python_models_import_and_no_torch() -> None:
    pins = image_pins(BASE_DEPENDENCIES)  # what docker/triton.Dockerfile installs
    installed = {DISTRIBUTION_MODULES[name] for name in pins if name in DISTRIBUTION_MODULES}
    installed |= {module for name in pins for module in EXTRA_MODULES.get(name, ())}
    needed = third_party_imports(served_modules(SOURCE_REPOSITORY), ("ocrstack",))
    assert "torch" not in needed, "a served module imports torch, which the image does not install"
    assert needed - STUB_MODULES <= installed, (
        f"missing in the base list the image installs: {needed - STUB_MODULES - installed}"
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
    assert image_pins(
        [
            "numpy==1.26.4",
            "tritonclient[grpc]==2.73.0",
            "shapely==2.2.0; python_version >= '3.11'",
            "shapely==2.1.2; python_version < '3.11'",
        ]
    ) == {"numpy": "1.26.4", "tritonclient": "2.73.0", "shapely": "2.1.2"}
    # ocrstack.models holds the PyTorch modules: reaching it must show torch as needed.
    assert "torch" in third_party_imports(["ocrstack.models"], ("ocrstack",))
    assert {"cv2", "numpy"} <= third_party_imports(["ocrstack.pipeline.image_io"], ("ocrstack",))
