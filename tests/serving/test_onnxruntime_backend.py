"""The Python-based onnxruntime backend, driven without Triton through a fake ``triton_python_backend_utils``.

The fake keeps to the part of the python backend's API the backend uses (Tensor, InferenceResponse,
TritonError, Logger, get_input_tensor_by_name); the real stub is exercised by the integration check
against the embedded tritonserver.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from ocrstack.serving.ort_backend import session as ort_session

BIAS = np.array([0.5, 1.0, 1.5, 2.0], np.float32)


# --- a fake triton_python_backend_utils ------------------------------------------------------------


class FakeTensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name, self._array = name, array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class FakeTritonError:
    INTERNAL = 13
    INVALID_ARG = 3

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        self._message, self.code = message, code

    def message(self) -> str:
        return self._message


class FakeResponse:
    def __init__(self, output_tensors: list[FakeTensor] | None = None, error: FakeTritonError | None = None):
        self._outputs, self._error = list(output_tensors or []), error

    def output_tensors(self) -> list[FakeTensor]:
        return self._outputs

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> FakeTritonError | None:
        return self._error


class FakeRequest:
    def __init__(self, requested: list[str] | None = None, **arrays: np.ndarray) -> None:
        self._inputs = [FakeTensor(name, array) for name, array in arrays.items()]
        self._requested = requested or []

    def inputs(self) -> list[FakeTensor]:
        return self._inputs

    def requested_output_names(self) -> list[str]:
        return self._requested


class FakeLogger:
    messages: ClassVar[list[tuple[str, str]]] = []

    @classmethod
    def log_info(cls, message: str) -> None:
        cls.messages.append(("info", message))

    @classmethod
    def log_warn(cls, message: str) -> None:
        cls.messages.append(("warn", message))


def _by_name(tensors: list[FakeTensor], name: str) -> FakeTensor | None:
    return next((tensor for tensor in tensors if tensor.name() == name), None)


def _fake_pb_utils() -> types.ModuleType:
    module = types.ModuleType("triton_python_backend_utils")
    module.Tensor = FakeTensor  # type: ignore[attr-defined]
    module.TritonError = FakeTritonError  # type: ignore[attr-defined]
    module.InferenceResponse = FakeResponse  # type: ignore[attr-defined]
    module.Logger = FakeLogger  # type: ignore[attr-defined]
    module.get_input_tensor_by_name = lambda request, name: _by_name(request.inputs(), name)  # type: ignore[attr-defined]
    module.get_output_tensor_by_name = lambda response, name: _by_name(response.output_tensors(), name)  # type: ignore[attr-defined]
    return module


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The backend module imported afresh against the fake stub module."""
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils())
    # The backend and the error answers it imports both bind the stub module at import.
    fresh = ("ocrstack.serving.ort_backend.model", "ocrstack.serving.errors")
    for name in fresh:
        monkeypatch.delitem(sys.modules, name, raising=False)
    FakeLogger.messages = []
    yield importlib.import_module(fresh[0])
    for name in fresh:
        sys.modules.pop(name, None)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, tuple[int, ...]]]:
    """The input shapes of every session run, in order."""
    seen: list[dict[str, tuple[int, ...]]] = []
    original = ort.InferenceSession.run

    def counting_run(self: Any, output_names: Any, input_feed: dict[str, np.ndarray], *args: Any) -> Any:
        seen.append({name: array.shape for name, array in input_feed.items()})
        return original(self, output_names, input_feed, *args)

    monkeypatch.setattr(ort.InferenceSession, "run", counting_run)
    return seen


# --- a tiny model: y = x * 2 + bias, z = x + 1, batch and width dynamic --------------------------


def _write_model(path: Path) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["doubled"]),
            helper.make_node("Add", ["doubled", "bias"], ["y"]),
            helper.make_node("Add", ["x", "one"], ["z"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "k"])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "k"]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", "k"]),
        ],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("bias", TensorProto.FLOAT, [4], BIAS.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "affine",
        "backend": "onnxruntime",
        "max_batch_size": 4,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [-1]}],
        "output": [
            {"name": "y", "data_type": "TYPE_FP32", "dims": [-1]},
            {"name": "z", "data_type": "TYPE_FP32", "dims": [-1]},
        ],
        "parameters": {"intra_op_thread_count": {"string_value": "1"}},
    }
    config.update(overrides)
    return config


def _load(backend: types.ModuleType, tmp_path: Path, kind: str = "CPU", **overrides: Any) -> Any:
    model_dir = tmp_path / "affine"
    config = _config(**overrides)
    _write_model(model_dir / "1" / (config.get("default_model_filename") or "model.onnx"))
    model = backend.TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(model_dir),
            "model_version": "1",
            "model_name": "affine",
            "model_instance_name": "affine_0",
            "model_instance_kind": kind,
            "model_instance_device_id": "0",
        }
    )
    return model


def _x(n: int, k: int = 4, start: float = 0.0) -> np.ndarray:
    return (start + np.arange(n * k, dtype=np.float32)).reshape(n, k)


def _output(response: FakeResponse, name: str) -> np.ndarray:
    assert not response.has_error(), response.error().message()  # type: ignore[union-attr]
    tensor = _by_name(response.output_tensors(), name)
    assert tensor is not None, f"no output {name}"
    return tensor.as_numpy()


def _error(response: FakeResponse) -> FakeTritonError:
    error = response.error()
    assert error is not None, "expected an error response"
    return error


# --- tests ------------------------------------------------------------------------------------------


def test_equal_shapes_share_one_run(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    model = _load(backend, tmp_path)
    inputs = [_x(1), _x(2, start=10), _x(1, start=20)]
    responses = model.execute([FakeRequest(x=x) for x in inputs])
    assert runs == [{"x": (4, 4)}]
    for x, response in zip(inputs, responses, strict=True):
        np.testing.assert_allclose(_output(response, "y"), x * 2 + BIAS)
        np.testing.assert_allclose(_output(response, "z"), x + 1)


def test_different_shapes_run_separately(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    model = _load(backend, tmp_path)
    inputs = [_x(1), _x(1, k=1), _x(2, start=5)]
    responses = model.execute([FakeRequest(x=x) for x in inputs])
    assert runs == [{"x": (3, 4)}, {"x": (1, 1)}]
    for x, response in zip(inputs, responses, strict=True):
        np.testing.assert_allclose(_output(response, "y"), x * 2 + BIAS)


def test_runs_stay_within_max_batch_size(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    model = _load(backend, tmp_path)
    responses = model.execute([FakeRequest(x=_x(3)), FakeRequest(x=_x(3)), FakeRequest(x=_x(1))])
    assert [shape["x"][0] for shape in runs] == [3, 4]
    assert all(not response.has_error() for response in responses)


def test_bad_requests_fail_alone(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    model = _load(backend, tmp_path)
    requests = [
        FakeRequest(x=_x(1)),
        FakeRequest(),
        FakeRequest(x=_x(1).astype(np.float64)),
        FakeRequest(x=np.zeros(4, np.float32)),
        FakeRequest(x=np.zeros((1, 0), np.float32)),
        FakeRequest(x=_x(5)),
        FakeRequest(x=_x(2, start=3)),
    ]
    responses = model.execute(requests)
    expected = [
        None,
        "missing input 'x'",
        "data type float64, expected TYPE_FP32",
        "shape [4], expected [batch, -1]",
        "is empty",
        "batch size 5 exceeds max_batch_size 4",
        None,
    ]
    for response, message in zip(responses, expected, strict=True):
        if message is None:
            assert not response.has_error()
        else:
            error = _error(response)
            assert message in error.message() and error.code == FakeTritonError.INVALID_ARG
    assert runs == [{"x": (3, 4)}]
    np.testing.assert_allclose(_output(responses[6], "y"), _x(2, start=3) * 2 + BIAS)


def test_failed_run_fails_only_its_batch(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    """Width 3 cannot broadcast against the 4-wide bias: ONNX Runtime raises for that run only."""
    model = _load(backend, tmp_path)
    responses = model.execute([FakeRequest(x=_x(1, k=3)), FakeRequest(x=_x(1)), FakeRequest(x=_x(2, k=3))])
    assert len(runs) == 2
    for failed in (responses[0], responses[2]):
        error = _error(failed)
        assert "onnxruntime failed on a batch of 2 request(s), 3 row(s)" in error.message()
        assert error.code == FakeTritonError.INTERNAL
    np.testing.assert_allclose(_output(responses[1], "y"), _x(1) * 2 + BIAS)


def test_only_requested_outputs_are_returned(backend: types.ModuleType, tmp_path: Path, runs: list) -> None:
    model = _load(backend, tmp_path)
    only_z, everything = model.execute([FakeRequest(requested=["z"], x=_x(1)), FakeRequest(x=_x(1))])
    assert [tensor.name() for tensor in only_z.output_tensors()] == ["z"]
    assert [tensor.name() for tensor in everything.output_tensors()] == ["y", "z"]
    assert len(runs) == 1


def test_unrequested_outputs_are_not_computed(
    backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _load(backend, tmp_path)
    asked: list[list[str]] = []
    original = ort.InferenceSession.run

    def recording_run(
        self: Any, output_names: list[str], input_feed: dict[str, np.ndarray], *args: Any
    ) -> Any:
        asked.append(output_names)
        return original(self, output_names, input_feed, *args)

    monkeypatch.setattr(ort.InferenceSession, "run", recording_run)
    model.execute([FakeRequest(requested=["z"], x=_x(1))])
    assert asked == [["z"]]


@pytest.fixture
def shrinkage(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Each session run's arena-shrinkage entry (None: the run keeps the arena), in order."""
    seen: list[str | None] = []
    original = ort.InferenceSession.run

    def recording_run(self: Any, names: Any, feed: Any, options: ort.RunOptions) -> Any:
        try:
            seen.append(options.get_run_config_entry("memory.enable_memory_arena_shrinkage"))
        except RuntimeError:  # no entry
            seen.append(None)
        return original(self, names, feed, options)

    monkeypatch.setattr(ort.InferenceSession, "run", recording_run)
    return seen


def test_runs_give_the_arena_back_unless_it_is_off(
    backend: types.ModuleType, tmp_path: Path, shrinkage: list[str | None]
) -> None:
    _load(backend, tmp_path).execute([FakeRequest(x=_x(1))])
    assert shrinkage == ["cpu:0"]
    for settings in (
        # an arena that is off has nothing to give back
        backend.model_config.SessionSettings(enable_mem_arena=False),
        backend.model_config.session_settings({"parameters": {"arena_shrinkage": {"string_value": "0"}}}),
    ):
        with pytest.raises(RuntimeError):  # no entry
            ort_session.run_options(settings).get_run_config_entry("memory.enable_memory_arena_shrinkage")


def test_with_a_budget_runs_give_the_arena_back_only_above_it(
    backend: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shrinkage: list[str | None]
) -> None:
    model = _load(backend, tmp_path, parameters={"arena_budget_mib": {"string_value": "500"}})
    for resident in (499, 500, 501, None):  # None: memory unreadable, so give it back to be safe
        monkeypatch.setattr(ort_session, "resident_mib", lambda resident=resident: resident)
        model.execute([FakeRequest(x=_x(1))])
    assert shrinkage == [None, None, "cpu:0", "cpu:0"]
    with pytest.raises(ValueError, match="arena_budget_mib"):
        backend.model_config.session_settings({"parameters": {"arena_budget_mib": {"string_value": "-1"}}})


def test_resident_memory_is_read_on_linux() -> None:
    resident = ort_session.resident_mib()
    assert resident is None or 10 < resident < 1 << 20


def test_thread_parameters_are_honoured(backend: types.ModuleType, tmp_path: Path) -> None:
    parameters = {
        "intra_op_thread_count": {"string_value": "2"},
        "inter_op_thread_count": {"string_value": "3"},
        "execution_mode": {"string_value": "1"},
    }
    model = _load(backend, tmp_path, parameters=parameters, optimization={"graph": {"level": -1}})
    options = model.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 3)
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert "intra_op_threads=2 inter_op_threads=3" in FakeLogger.messages[-1][1]


def test_unbatched_model_runs_each_request_alone(
    backend: types.ModuleType, tmp_path: Path, runs: list
) -> None:
    model = _load(
        backend,
        tmp_path,
        max_batch_size=0,
        input=[{"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 4]}],
        output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [-1, 4]}],
    )
    responses = model.execute([FakeRequest(x=_x(2)), FakeRequest(x=_x(2, start=1))])
    assert runs == [{"x": (2, 4)}, {"x": (2, 4)}]
    np.testing.assert_allclose(_output(responses[1], "y"), _x(2, start=1) * 2 + BIAS)


def test_config_mismatch_fails_the_load(backend: types.ModuleType, tmp_path: Path) -> None:
    bad = [{"name": "image", "data_type": "TYPE_FP32", "dims": [-1]}]
    with pytest.raises(ValueError, match="input 'image' is not in the ONNX model \\(its inputs: x\\)"):
        _load(backend, tmp_path, input=bad)


def test_missing_model_file_is_named(backend: types.ModuleType, tmp_path: Path) -> None:
    model = backend.TritonPythonModel()
    args = {"model_config": json.dumps(_config()), "model_repository": str(tmp_path), "model_version": "1"}
    with pytest.raises(FileNotFoundError, match=r"1/model\.onnx"):
        model.initialize(args)


def test_default_model_filename_and_finalize(backend: types.ModuleType, tmp_path: Path) -> None:
    model = _load(backend, tmp_path, default_model_filename="affine.onnx")
    assert model.session is not None
    model.finalize()
    assert model.session is None
    (response,) = model.execute([FakeRequest(x=_x(1))])
    assert "finalized" in _error(response).message()


def test_gpu_instance_without_gpu_build_runs_on_cpu(backend: types.ModuleType, tmp_path: Path) -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime build has CUDA")
    model = _load(backend, tmp_path, kind="GPU")
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    assert any(level == "warn" and "GPU instance" in text for level, text in FakeLogger.messages)


# --- the real embedded tritonserver -------------------------------------------------------------------

SERVED_CONFIG = """
name: "affine"
backend: "onnxruntime"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] }, { name: "z" data_type: TYPE_FP32 dims: [ -1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 50000 }
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
"""


@pytest.fixture(scope="module")
def served_affine(tmp_path_factory: pytest.TempPathFactory, launch_triton) -> Iterator[str]:
    """The tiny model behind the embedded tritonserver, through the launcher's backend folder."""
    root = tmp_path_factory.mktemp("served_affine")
    _write_model(root / "repository" / "affine" / "1" / "model.onnx")
    (root / "repository" / "affine" / "config.pbtxt").write_text(SERVED_CONFIG)
    with launch_triton(root / "repository", root) as options:
        yield f"127.0.0.1:{options.http_port}"


def _infer(url: str, x: np.ndarray, outputs: list[str] | None = None) -> Any:
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    requested = [httpclient.InferRequestedOutput(name) for name in outputs] if outputs else None
    client = httpclient.InferenceServerClient(url)
    try:
        return client.infer("affine", [tensor], outputs=requested)
    finally:
        client.close()  # an open keep-alive connection would hold the server's shutdown for 30 s


def _execution_stats(url: str) -> tuple[int, int]:
    with urllib.request.urlopen(f"http://{url}/v2/models/affine/stats") as response:
        stats = json.load(response)["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


@pytest.mark.slow
def test_served_requests_are_batched(served_affine: str) -> None:
    inputs = [_x(1 + i % 3, start=i) for i in range(16)]
    before = _execution_stats(served_affine)
    with ThreadPoolExecutor(len(inputs)) as pool:
        results = list(pool.map(lambda x: _infer(served_affine, x).as_numpy("y"), inputs))
    after = _execution_stats(served_affine)
    rows, executions = after[0] - before[0], after[1] - before[1]
    for x, y in zip(inputs, results, strict=True):
        np.testing.assert_allclose(y, x * 2 + BIAS)
    assert rows == sum(len(x) for x in inputs)
    assert executions < len(inputs), "the dynamic batcher merged nothing"


@pytest.mark.slow
def test_served_errors_and_requested_outputs(served_affine: str) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="onnxruntime failed on a batch"):
        _infer(served_affine, _x(1, k=3))
    only_z = _infer(served_affine, _x(2), outputs=["z"])
    assert only_z.as_numpy("y") is None
    np.testing.assert_allclose(only_z.as_numpy("z"), _x(2) + 1)
