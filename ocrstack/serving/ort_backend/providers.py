"""Execution providers for one instance of the embedded onnxruntime backend, chosen as Triton's C++
onnxruntime backend chooses them (CUDA on a GPU instance, TensorRT when the config asks for it, CPU
last)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ocrstack.serving.ort_backend.model_config import Accelerator

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"

# Accelerator parameters whose TensorRT execution-provider option has another name.
TENSORRT_OPTION_NAMES = {
    "max_workspace_size_bytes": "trt_max_workspace_size",
    "int8_calibration_table_name": "trt_int8_calibration_table_name",
    "int8_use_native_calibration_table": "trt_int8_use_native_calibration_table",
}

ProviderSpec = tuple[str, dict[str, str]]


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
