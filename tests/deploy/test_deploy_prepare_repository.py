"""deploy/prepare_repository.py: the served repository for each engine, read back as Triton reads configs.

The GPU engines cannot run here; what they are given can be checked: every prepared config must parse as
a Triton ModelConfig, differ from the committed one only where the engine needs it, and carry the
optimisation profiles of the config records. ``build-engines`` runs against a stand-in ``trtexec`` that
records its arguments and writes the plan file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import REPO_ROOT, load_prepare_repository
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from convert.repository import write_sequential_twin
from convert.tensorrt import shape_profile
from devtools.imports import module_file, reachable
from ocrstack.config import RECOGNIZERS, model_config

prepare_repository = load_prepare_repository()
SCRIPT = REPO_ROOT / "deploy" / "prepare_repository.py"
ONNX_MODELS = prepare_repository.onnx_models(REPO_ROOT / "model_repository")


def parse(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    """The committed repository with stand-in ONNX files (their contents are not read here)."""
    repository = tmp_path / "model_repository"
    shutil.copytree(
        REPO_ROOT / "model_repository", repository, ignore=shutil.ignore_patterns("*.onnx", "__pycache__")
    )
    for name in ONNX_MODELS:
        # The version folder holds only the built file, so a fresh clone has no folder either.
        (repository / name / "1").mkdir(parents=True, exist_ok=True)
        (repository / name / "1" / "model.onnx").write_bytes(b"onnx")
    return repository


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environment, check=False
    )


def test_onnx_models_are_the_onnxruntime_configs() -> None:
    assert set(ONNX_MODELS) >= {"text_detection", "text_recognition_ch"}
    for name in ONNX_MODELS:
        assert parse(REPO_ROOT / "model_repository" / name / "config.pbtxt").backend == "onnxruntime"


def test_cpu_engine_serves_the_committed_repository_unchanged(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "served"
    result = run("prepare", "--engine", "cpu", "--source", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for config in source.glob("*/config.pbtxt"):
        assert (out / config.relative_to(source)).read_text() == config.read_text()
    # Model folders only: Triton reads nothing else (the repository's README stays behind).
    in_folders = [p.relative_to(source) for p in source.rglob("*") if p.parent != source or p.is_dir()]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == sorted(in_folders)


def prepared(source: Path, out: Path, engine: str, **kwargs: object) -> dict[str, mc.ModelConfig]:
    prepare_repository.prepare(source, out, engine, **kwargs)
    return {p.parent.name: parse(p) for p in out.glob("*/config.pbtxt")}


def test_onnxruntime_engine_puts_the_onnx_models_on_the_gpu(source: Path, tmp_path: Path) -> None:
    configs = prepared(source, tmp_path / "served", "onnxruntime", instances=2)
    committed = {p.parent.name: parse(p) for p in source.glob("*/config.pbtxt")}
    for name, config in configs.items():
        if name in ONNX_MODELS:
            (group,) = config.instance_group
            assert (group.kind, group.count) == (mc.ModelInstanceGroup.KIND_GPU, 2)
            config.ClearField("instance_group")
            committed[name].ClearField("instance_group")
            if not committed[name].HasField("dynamic_batching"):  # the recognizers: see the test below
                config.ClearField("dynamic_batching")
        assert config == committed[name], name


@pytest.mark.parametrize("engine", ["onnxruntime", "ort-tensorrt"])
def test_gpu_engines_batch_the_recognizers_but_not_their_twins(
    source: Path, tmp_path: Path, engine: str
) -> None:
    write_sequential_twin(source, "text_recognition_ch")
    committed = {p.parent.name: parse(p) for p in source.glob("*/config.pbtxt")}
    configs = prepared(source, tmp_path / "served", engine)
    for name in RECOGNIZERS:
        if name in committed:
            assert not committed[name].HasField("dynamic_batching"), name  # CPU configs run requests alone
            assert configs[name].dynamic_batching.max_queue_delay_microseconds > 0, name
    assert not configs["text_recognition_ch_sequential"].HasField("dynamic_batching")
    assert configs["text_detection"].dynamic_batching == committed["text_detection"].dynamic_batching
    assert not configs["ocr"].HasField("dynamic_batching")  # an ensemble is copied as it is


def test_ort_tensorrt_engine_uses_the_record_profiles_and_a_cache(source: Path, tmp_path: Path) -> None:
    configs = prepared(source, tmp_path / "served", "ort-tensorrt", cache_dir="/engine-cache")
    for name in ONNX_MODELS:
        config = configs[name]
        (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        assert accelerator.name == "tensorrt"
        parameters = dict(accelerator.parameters)
        profile = shape_profile(model_config(name), config.max_batch_size)
        assert parameters["trt_profile_min_shapes"] == profile["min"]
        assert parameters["trt_profile_opt_shapes"] == profile["opt"]
        assert parameters["trt_profile_max_shapes"] == profile["max"]
        assert parameters["trt_engine_cache_enable"] == "1"
        assert parameters["trt_engine_cache_path"] == f"/engine-cache/{name}"
        assert parameters["precision_mode"] == "FP16"
        # The profile covers the largest batch Triton may form.
        assert profile["max"].split(":")[1].split("x")[0] == str(config.max_batch_size)
    for name in set(configs) - set(ONNX_MODELS):
        assert not configs[name].HasField("optimization")


def fake_trtexec(folder: Path) -> Path:
    """A trtexec that writes the engine file and records its arguments beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "trtexec"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --saveEngine=*) out="${a#--saveEngine=}";; esac; done\n'
        'printf "%s\\n" "$@" > "$out.args"; printf plan > "$out"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_tensorrt_engine_serves_plans_built_from_the_records(source: Path, tmp_path: Path) -> None:
    engines, out = tmp_path / "engines", tmp_path / "served"
    path = f"{fake_trtexec(tmp_path / 'bin')}:{os.environ['PATH']}"
    built = run("build-engines", "--source", str(source), "--out", str(engines), env={"PATH": path})
    assert built.returncode == 0, built.stderr
    manifest = json.loads((engines / "engines.json").read_text())
    assert set(manifest) == set(ONNX_MODELS)
    for name in ONNX_MODELS:
        arguments = (engines / name / "model.plan.args").read_text().splitlines()
        max_batch = parse(source / name / "config.pbtxt").max_batch_size
        profile = shape_profile(model_config(name), max_batch)
        assert f"--minShapes={profile['min']}" in arguments and f"--maxShapes={profile['max']}" in arguments
        assert "--fp16" in arguments and f"--onnx={source / name / '1' / 'model.onnx'}" in arguments
        assert manifest[name]["profile"] == profile
    paths = ("--source", str(source), "--out", str(out), "--engines", str(engines))
    result = run("prepare", "--engine", "tensorrt", *paths)
    assert result.returncode == 0, result.stderr
    for name in ONNX_MODELS:
        config = parse(out / name / "config.pbtxt")
        assert config.backend == "tensorrt"
        assert not set(config.parameters) & set(prepare_repository.ORT_PARAMETERS)
        assert (out / name / "1" / "model.plan").read_bytes() == b"plan"
        assert not (out / name / "1" / "model.onnx").exists()
        assert config.input == parse(source / name / "config.pbtxt").input


def test_stale_or_missing_plans_are_refused(source: Path, tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    path = f"{fake_trtexec(tmp_path / 'bin')}:{os.environ['PATH']}"
    built = run("build-engines", "--source", str(source), "--out", str(engines), env={"PATH": path})
    assert built.returncode == 0, built.stderr
    manifest = json.loads((engines / "engines.json").read_text())
    manifest["text_detection"]["profile"]["max"] = "image:1x3x64x64"
    (engines / "engines.json").write_text(json.dumps(manifest))
    with pytest.raises(prepare_repository.PrepareError, match="build-engines again"):
        prepare_repository.prepare(source, tmp_path / "out", "tensorrt", engines_dir=engines)
    manifest["text_detection"]["profile"] = prepare_repository.profile_for(
        "text_detection", (source / "text_detection" / "config.pbtxt").read_text()
    )
    (engines / "engines.json").write_text(json.dumps(manifest))
    prepare_repository.prepare(source, tmp_path / "out", "tensorrt", engines_dir=engines)
    (source / "text_detection" / "1" / "model.onnx").write_bytes(b"retrained")  # new weights, same shapes
    with pytest.raises(prepare_repository.PrepareError, match="build-engines again"):
        prepare_repository.prepare(source, tmp_path / "out", "tensorrt", engines_dir=engines)
    (engines / "engines.json").unlink()
    result = run("prepare", "--engine", "tensorrt", "--source", str(source), "--out", str(tmp_path / "o2"))
    assert result.returncode == 2 and "no TensorRT plans" in result.stderr


def test_missing_onnx_files_name_the_command_that_builds_them(source: Path, tmp_path: Path) -> None:
    (source / "text_detection" / "1" / "model.onnx").unlink()
    out = tmp_path / "out"
    result = run("prepare", "--engine", "onnxruntime", "--source", str(source), "--out", str(out))
    assert result.returncode == 2 and "make model-repository" in result.stderr


def test_engine_comes_from_the_environment_as_in_compose(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "served"
    engine = {"OCRSTACK_TRITON_ENGINE": "ort-tensorrt"}
    result = run("prepare", "--source", str(source), "--out", str(out), env=engine)
    assert result.returncode == 0, result.stderr
    assert "ort-tensorrt" in result.stdout
    assert parse(out / "text_detection" / "config.pbtxt").HasField("optimization")


def test_text_edits_keep_comments_and_strings_intact() -> None:
    text = (
        "# instance_group [ { count: 9 } ]\n"
        'name: "x"  # a "quoted" } brace\n'
        "instance_group [ { count: 2 } ]\n"
    )
    edited = prepare_repository.replace_field(text, "instance_group", "instance_group [ { count: 1 } ]")
    assert edited.splitlines()[0] == "# instance_group [ { count: 9 } ]"
    assert edited.splitlines()[2] == "instance_group [ { count: 1 } ]"
    kept = 'parameters { key: "b" value: { string_value: "1" } }\n'
    parameters = 'parameters { key: "a" value: { string_value: "}" } }\n' + kept
    assert prepare_repository.remove_parameters(parameters, ["a"]) == kept


def test_prepare_step_imports_only_what_every_image_has() -> None:
    """It runs on the Triton image's Python 3.10 and in the slim models image: the standard library and
    the two stdlib-only project modules, nothing else."""
    import ast

    modules, outside = reachable(["deploy.prepare_repository"])
    assert outside == set()
    assert modules == {
        "deploy.prepare_repository",
        "ocrstack",
        "ocrstack.config",
        "convert",
        "convert.tensorrt",
    }
    for module in modules:
        source = module_file(module)
        assert source is not None
        ast.parse(source.read_text(), feature_version=(3, 10))
