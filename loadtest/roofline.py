"""The roofline note: FLOPs per image at the test images' sizes, and the machine's GEMM bound.

FLOPs are counted on the PyTorch models (``torch.utils.flop_counter``: convolutions and matrix products,
2 per multiply-add) at the shapes the pipeline gives them: each image's detector input (its resize and
size bucket), and each detected line at the width bucket it is padded to, read by its language's
recognizer for its orientation. The bound is a plain float32 matrix product (2048 x 2048) on the same
cores, best of a few runs.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from convert.repository import model_path
from ocrstack.config import DEFAULT_LANGUAGE, detector_config, recognizer_config, recognizers_for
from ocrstack.engine.onnxruntime_engine import OnnxRuntimeEngine
from ocrstack.pipeline.preprocess import choose_width_bucket
from ocrstack.pipeline.stages import boxes_from_detection, cut_lines, prepare_detection
from ocrstack.serving.repository import model_names
from ocrstack.weights.checkpoint import load_checkpoint


@dataclass(frozen=True)
class Workload:
    """What the test images ask of the models: detector input shapes and crops per recognizer and width."""

    detector_inputs: list[tuple[int, ...]]
    crops: Counter[tuple[str, int]]  # (recognizer, width bucket) -> crops


def workload(images: list[tuple[bytes, str | None]], repository: Path, threads: int = 2) -> Workload:
    """Detection run once per image (ONNX Runtime) to find the lines the recognizers will get."""
    config = detector_config()
    detector = OnnxRuntimeEngine(model_path(repository, config.name), intra_op_threads=threads)
    available = model_names(repository)
    shapes, crops = [], Counter[tuple[str, int]]()
    for data, lang in images:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        batch, plan = prepare_detection(image, config)
        shapes.append(tuple(batch.shape))
        quads, _ = boxes_from_detection(detector.run_single(batch), plan, image.shape, config)
        lines = cut_lines(image, quads)
        models = recognizers_for(lang or DEFAULT_LANGUAGE, available)
        for crop, orientation in zip(lines.crops, lines.orientations, strict=True):
            name = models.get(orientation, models["horizontal"])
            crop_h, crop_w = crop.shape[:2]
            crops[(name, choose_width_bucket(crop_h, crop_w, recognizer_config(name)))] += 1
    return Workload(shapes, crops)


@functools.cache
def _network(checkpoint: Path) -> torch.nn.Module:
    """On the meta device: shapes only, so counting runs no arithmetic."""
    return load_checkpoint(checkpoint).build().to("meta")


def model_flops(checkpoints: Path, name: str, shape: tuple[int, ...]) -> int:
    network = _network(checkpoints / f"{name}.pt")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        network(torch.zeros(shape, device="meta"))
    return int(counter.get_total_flops())


def flops_per_image(load: Workload, checkpoints: Path) -> dict[str, float]:
    """Mean FLOPs per image, by model."""
    count = len(load.detector_inputs)
    detector = detector_config().name
    totals: Counter[str] = Counter()
    for shape, times in Counter(load.detector_inputs).items():
        totals[detector] += times * model_flops(checkpoints, detector, shape)
    for (name, width), times in load.crops.items():
        height = recognizer_config(name).height
        totals[name] += times * model_flops(checkpoints, name, (1, 3, height, width))
    return {name: value / count for name, value in totals.items()}


def gemm_flops_per_s(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GEMM rate on ``threads`` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        return 2 * size**3 / best
    finally:
        torch.set_num_threads(previous)
