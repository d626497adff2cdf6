"""The onnxruntime backend's pure logic: config parsing, model checks, providers, request checks, batching."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from ocrstack.serving import parameters
from ocrstack.serving.ort_backend import batching, model_config
from ocrstack.serving.ort_backend import providers as ort_providers
from ocrstack.serving.ort_backend.model_config import Accelerator, ModelTensor, TensorSpec


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "det",
        "max_batch_size": 4,
        "input": [{"name": "image", "data_type": "TYPE_FP32", "dims": [3, -1, -1]}],
        "output": [{"name": "probability", "data_type": "TYPE_FP32", "dims": [1, -1, -1]}],
    }
    config.update(overrides)
    return config


def _params(**values: str) -> dict[str, dict[str, str]]:
    return {key: {"string_value": value} for key, value in values.items()}


# --- parameters and config ---------------------------------------------------------------------------


def test_parameter_is_typed_by_its_default() -> None:
    params = _params(threads="2", ratio="0.5", flag="true", name="x")
    assert parameters.parameter(params, "threads", 0) == 2
    assert parameters.parameter(params, "ratio", 1.0) == 0.5
    assert parameters.parameter(params, "flag", False) is True
    assert parameters.parameter(params, "name", "y") == "x"
    assert parameters.parameter(params, "absent", 7) == 7


def test_parameter_names_the_key_on_a_bad_value() -> None:
    with pytest.raises(ValueError, match="'intra_op_thread_count' must be int"):
        parameters.parameter(_params(intra_op_thread_count="two"), "intra_op_thread_count", 0)


@pytest.mark.parametrize(("text", "value"), [("1", True), ("On", True), ("false", False), ("0", False)])
def test_parse_bool(text: str, value: bool) -> None:
    assert parameters.parse_bool(text) is value


def test_session_settings_defaults_are_onnxruntime_choices() -> None:
    settings = model_config.session_settings(_config())
    assert settings == model_config.SessionSettings()
    assert (settings.intra_op_threads, settings.inter_op_threads) == (0, 0)
    assert settings.graph_optimization == "ORT_ENABLE_ALL"


def test_session_settings_read_the_cpp_backend_keys() -> None:
    config = _config(
        parameters=_params(
            intra_op_thread_count="2", inter_op_thread_count="1", execution_mode="1", enable_mem_pattern="0"
        ),
        optimization={"graph": {"level": 1}},
    )
    settings = model_config.session_settings(config)
    assert (settings.intra_op_threads, settings.inter_op_threads) == (2, 1)
    assert settings.parallel_execution
    assert settings.graph_optimization == "ORT_ENABLE_EXTENDED"
    assert settings.enable_mem_pattern is False and settings.enable_mem_arena is None
    assert settings.allow_spinning is None


def test_spinning_can_be_turned_off() -> None:
    settings = model_config.session_settings(_config(parameters=_params(allow_spinning="0")))
    assert settings.allow_spinning is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"execution_mode": "2"}, "execution_mode"),
        ({"intra_op_thread_count": "-1"}, "intra_op_thread_count"),
        ({"enable_mem_arena": "maybe"}, "enable_mem_arena"),
    ],
)
def test_session_settings_refuse_bad_values(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config.session_settings(_config(parameters=_params(**params)))


def test_parse_config() -> None:
    config = model_config.parse_config(_config(default_model_filename=""))
    assert config.max_batch_size == 4 and config.batched
    assert config.inputs == (TensorSpec("image", "TYPE_FP32", (3, -1, -1)),)
    assert config.output_names == ["probability"]
    assert config.model_filename == "model.onnx"
    assert config.inputs[0].dtype == np.float32


def test_parse_config_accepts_dims_as_strings() -> None:
    """protobuf's JSON writes int64 as strings; Triton usually converts them back, but not everywhere."""
    config = _config(input=[{"name": "image", "data_type": "TYPE_FP32", "dims": ["3", "-1", "-1"]}])
    assert model_config.parse_config(config).inputs[0].dims == (3, -1, -1)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "image", "data_type": "TYPE_BF16", "dims": [3]}, "TYPE_BF16"),
        ({"name": "image", "data_type": "TYPE_FP32", "dims": [3], "reshape": {"shape": [3, 1]}}, "reshape"),
    ],
)
def test_parse_config_refuses_what_it_cannot_serve(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config.parse_config(_config(input=[entry]))


def test_gpu_accelerators() -> None:
    optimization = {
        "execution_accelerators": {
            "gpu_execution_accelerator": [{"name": "TensorRT", "parameters": {"precision_mode": "FP16"}}]
        }
    }
    assert model_config.gpu_accelerators(_config(optimization=optimization)) == (
        Accelerator("tensorrt", {"precision_mode": "FP16"}),
    )


# --- config against the model ------------------------------------------------------------------------

MODEL_IN = [ModelTensor("image", "tensor(float)", ("n", 3, "h", "w"))]
MODEL_OUT = [ModelTensor("probability", "tensor(float)", ("n", 1, "h", "w"))]


def test_matching_model_passes() -> None:
    model_config.check_against_model(model_config.parse_config(_config()), MODEL_IN, MODEL_OUT)


@pytest.mark.parametrize(
    ("overrides", "model_in", "message"),
    [
        (
            {"input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, -1, -1]}]},
            MODEL_IN,
            r"input 'images' is not in the ONNX model \(its inputs: image\).*"
            r"input 'image' of the ONNX model is missing",
        ),
        (
            {"input": [{"name": "image", "data_type": "TYPE_FP16", "dims": [3, -1, -1]}]},
            MODEL_IN,
            "config says TYPE_FP16, the ONNX model tensor\\(float\\)",
        ),
        (
            {"input": [{"name": "image", "data_type": "TYPE_FP32", "dims": [3, -1]}]},
            MODEL_IN,
            "rank 3",
        ),
        (
            {"input": [{"name": "image", "data_type": "TYPE_FP32", "dims": [4, -1, -1]}]},
            MODEL_IN,
            "dims \\[batch, 4, -1, -1\\]",
        ),
        ({}, [ModelTensor("image", "tensor(float)", (1, 3, "h", "w"))], "fixes the first dimension to 1"),
        (
            {"output": [{"name": "prob", "data_type": "TYPE_FP32", "dims": [1, -1, -1]}]},
            MODEL_IN,
            "output 'prob' is not in the ONNX model",
        ),
    ],
)
def test_mismatch_is_named(overrides: dict[str, Any], model_in: list[ModelTensor], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_config.check_against_model(model_config.parse_config(_config(**overrides)), model_in, MODEL_OUT)


def test_overridable_initializer_may_be_an_input() -> None:
    extra = {"name": "scale", "data_type": "TYPE_FP32", "dims": [1], "optional": True}
    config = model_config.parse_config(_config(input=[*_config()["input"], extra]))
    model_config.check_against_model(config, MODEL_IN, MODEL_OUT, overridable_initializers={"scale"})


def test_unbatched_model_is_checked_without_batch_dimension() -> None:
    config = model_config.parse_config(
        _config(max_batch_size=0, input=[{"name": "image", "data_type": "TYPE_FP32", "dims": [1, 3, -1, -1]}])
    )
    model_in = [ModelTensor("image", "tensor(float)", (1, 3, "h", "w"))]
    model_out = [ModelTensor("probability", "tensor(float)", (1, 1, "h", "w"))]
    with pytest.raises(ValueError, match=r"output 'probability'.*rank 3"):
        model_config.check_against_model(config, model_in, model_out)


# --- providers --------------------------------------------------------------------------------------

ALL_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cpu_instance_runs_on_cpu_even_with_a_gpu_build() -> None:
    assert ort_providers.choose_providers(ALL_PROVIDERS, "CPU", 0) == [("CPUExecutionProvider", {})]


def test_gpu_instance_uses_cuda_on_its_device() -> None:
    assert ort_providers.choose_providers(ALL_PROVIDERS, "GPU", 1) == [
        ("CUDAExecutionProvider", {"device_id": "1"}),
        ("CPUExecutionProvider", {}),
    ]


def test_tensorrt_only_when_the_config_asks_for_it() -> None:
    accelerators = [Accelerator("tensorrt", {"precision_mode": "FP16", "max_workspace_size_bytes": "1024"})]
    providers = ort_providers.choose_providers(ALL_PROVIDERS, "KIND_GPU", 0, accelerators)
    assert [name for name, _ in providers] == ALL_PROVIDERS
    assert providers[0][1] == {"device_id": "0", "trt_fp16_enable": "True", "trt_max_workspace_size": "1024"}


def test_gpu_instance_without_gpu_build_falls_back_to_cpu() -> None:
    accelerators = [Accelerator("tensorrt")]
    assert ort_providers.choose_providers(["CPUExecutionProvider"], "GPU", 0, accelerators) == [
        ("CPUExecutionProvider", {})
    ]


def test_bad_precision_mode() -> None:
    with pytest.raises(ValueError, match="precision_mode"):
        ort_providers.tensorrt_options({"precision_mode": "FP8"}, 0)


# --- requests ---------------------------------------------------------------------------------------

SPECS = (TensorSpec("image", "TYPE_FP32", (3, -1, -1)),)


def _image(n: int = 1, h: int = 8, w: int = 8, dtype: Any = np.float32) -> np.ndarray:
    return np.zeros((n, 3, h, w), dtype)


def test_good_request() -> None:
    assert batching.request_error({"image": _image(2)}, SPECS, 4) is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({}, "missing input 'image'"),
        ({"image": _image(dtype=np.float64)}, "data type float64, expected TYPE_FP32"),
        ({"image": np.zeros((3, 8, 8), np.float32)}, "shape \\[3, 8, 8\\], expected \\[batch, 3, -1, -1\\]"),
        ({"image": np.zeros((1, 4, 8, 8), np.float32)}, "expected \\[batch, 3, -1, -1\\]"),
        ({"image": _image(h=0)}, "empty"),
        ({"image": _image(5)}, "batch size 5 exceeds max_batch_size 4"),
    ],
)
def test_bad_requests_are_explained(arrays: dict[str, np.ndarray], message: str) -> None:
    error = batching.request_error(arrays, SPECS, 4)
    assert error is not None
    assert re.search(message, error), error


def test_inputs_must_agree_on_batch() -> None:
    specs = (*SPECS, TensorSpec("scale", "TYPE_FP32", (1,)))
    arrays = {"image": _image(2), "scale": np.ones((3, 1), np.float32)}
    assert batching.request_error(arrays, specs, 4) == "inputs disagree on the batch size: [2, 3]"


def test_optional_input_may_be_absent() -> None:
    specs = (*SPECS, TensorSpec("scale", "TYPE_FP32", (1,), optional=True))
    assert batching.request_error({"image": _image()}, specs, 4) is None


def test_unbatched_request_has_no_batch_dimension() -> None:
    specs = (TensorSpec("image", "TYPE_FP32", (1, 3, -1, -1)),)
    assert batching.request_error({"image": _image()}, specs, 0) is None
    assert batching.batch_size({"image": _image(1)}, batched=False) == 1


# --- batching ---------------------------------------------------------------------------------------


def test_plan_groups_equal_shapes_in_arrival_order() -> None:
    keys = [batching.batch_key({"image": _image(1, h, w)}) for h, w in [(8, 8), (8, 16), (8, 8), (8, 16)]]
    assert batching.plan_batches(keys, [1, 1, 1, 1], 4) == [[0, 2], [1, 3]]


def test_plan_keeps_runs_within_max_batch_size() -> None:
    assert batching.plan_batches(["a"] * 4, [2, 2, 1, 3], 4) == [[0, 1], [2, 3]]


def test_plan_without_batching_runs_each_alone() -> None:
    assert batching.plan_batches(["a", "a"], [1, 1], 0) == [[0], [1]]


def test_batch_key_ignores_batch_dimension_only() -> None:
    assert batching.batch_key({"image": _image(1)}) == batching.batch_key({"image": _image(3)})
    assert batching.batch_key({"image": _image(1)}) != batching.batch_key({"image": _image(1, w=9)})


def test_concatenate_then_split_round_trips() -> None:
    rng = np.random.default_rng(0)
    batch = [{"x": rng.standard_normal((n, 2)).astype(np.float32)} for n in (1, 3, 2)]
    merged = batching.concatenate(batch)
    assert merged["x"].shape == (6, 2)
    parts = batching.split_outputs({"y": merged["x"] * 2}, [1, 3, 2])
    for arrays, part in zip(batch, parts, strict=True):
        np.testing.assert_array_equal(part["y"], arrays["x"] * 2)


def test_single_request_is_not_copied() -> None:
    array = _image()
    assert batching.concatenate([{"image": array}])["image"] is array


def test_split_refuses_outputs_without_batch_dimension() -> None:
    with pytest.raises(ValueError, match="output 'y' has shape \\[5\\]"):
        batching.split_outputs({"y": np.zeros(5)}, [2, 2])


def test_runs_are_sliced_under_an_element_budget() -> None:
    feed = {"x": np.arange(10 * 6, dtype=np.float32).reshape(10, 2, 3)}
    assert batching.rows_per_run(feed, 0) is None
    assert batching.rows_per_run(feed, 20) == 3
    assert batching.rows_per_run(feed, 1) == 1
    calls = []

    def run(part):
        calls.append(len(part["x"]))
        return {"y": part["x"] * 2}

    out = batching.run_in_slices(run, feed, 3)
    assert calls == [3, 3, 3, 1]
    np.testing.assert_array_equal(out["y"], feed["x"] * 2)
    assert batching.run_in_slices(run, feed, None)["y"].shape == (10, 2, 3)
