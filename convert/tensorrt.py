"""TensorRT engines from the exported ONNX files, built with ``trtexec`` on the GPU that will run them.

Engines are specific to a GPU model and TensorRT version, so they are never shipped: each GPU host
builds its own. The optimisation profile (min/opt/max shapes) comes from the model's config record.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ocrstack.config import DetectorConfig, RecognizerConfig


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def shape_profile(config: DetectorConfig | RecognizerConfig, max_batch: int) -> dict[str, str]:
    """``minShapes``/``optShapes``/``maxShapes`` values for the model's input."""
    if isinstance(config, DetectorConfig):
        side = config.limit_side_len
        longest = config.max_input_side
        dims = {
            "min": (1, config.multiple, config.multiple),
            "opt": (1, side, _round_up(side * 16 // 9, config.multiple)),
            "max": (max(1, max_batch), longest, longest),
        }
    else:
        buckets = config.width_buckets
        opt_width = buckets[min(1, len(buckets) - 1)]
        dims = {
            "min": (1, config.height, buckets[0]),
            "opt": (max(1, max_batch // 2), config.height, opt_width),
            "max": (max_batch, config.height, buckets[-1]),
        }
    return {k: f"{config.input_name}:{n}x3x{h}x{w}" for k, (n, h, w) in dims.items()}


def trtexec_command(
    onnx_path: Path, engine_path: Path, config: DetectorConfig | RecognizerConfig, max_batch: int, fp16: bool
) -> list[str]:
    profile = shape_profile(config, max_batch)
    command = [
        "trtexec",
        f"--onnx={onnx_path}",
        f"--saveEngine={engine_path}",
        f"--minShapes={profile['min']}",
        f"--optShapes={profile['opt']}",
        f"--maxShapes={profile['max']}",
    ]
    return [*command, "--fp16"] if fp16 else command


def build_engine(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise FileNotFoundError("trtexec is not on PATH: build engines on a GPU host with TensorRT installed")
    subprocess.run(command, check=True)
