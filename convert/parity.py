"""ONNX Runtime against PyTorch on the same inputs: the check every export must pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.weights.checkpoint import Checkpoint

# Float32 kernels of the two runtimes differ in summation order; 1e-4 is far below anything that
# moves a probability-map threshold or an argmax, and far above that noise.
MAX_ABS_DIFF = 1e-4


class ParityError(AssertionError):
    pass


@dataclass(frozen=True)
class ParityReport:
    max_abs_diff: float
    # Share of positions whose arg-max over the class axis agrees; None for outputs without classes.
    argmax_agreement: float | None = None

    def ok(self, tolerance: float = MAX_ABS_DIFF) -> bool:
        return self.max_abs_diff <= tolerance and self.argmax_agreement in (None, 1.0)


def compare(reference: np.ndarray, candidate: np.ndarray, has_classes: bool) -> ParityReport:
    """Compare two outputs; with ``has_classes`` the last axis holds class scores."""
    if reference.shape != candidate.shape:
        raise ParityError(f"shape {candidate.shape} differs from the reference {reference.shape}")
    if not reference.size:
        return ParityReport(0.0, 1.0 if has_classes else None)
    diff = float(np.abs(reference.astype(np.float64) - candidate).max())
    agreement = float((reference.argmax(-1) == candidate.argmax(-1)).mean()) if has_classes else None
    return ParityReport(diff, agreement)


def torch_outputs(model: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def check_parity(
    checkpoint: Checkpoint, onnx_path: Path, batches: list[np.ndarray], tolerance: float = MAX_ABS_DIFF
) -> ParityReport:
    """Worst case over ``batches``; raises ParityError when it is out of tolerance."""
    model = checkpoint.build()
    engine = OnnxRuntimeEngine(onnx_path, providers=["CPUExecutionProvider"])
    has_classes = checkpoint.charset is not None
    reports = [compare(torch_outputs(model, b), engine.run_single(b), has_classes) for b in batches]
    agreements = [r.argmax_agreement for r in reports if r.argmax_agreement is not None]
    worst = ParityReport(max(r.max_abs_diff for r in reports), min(agreements) if agreements else None)
    if not worst.ok(tolerance):
        raise ParityError(f"{onnx_path}: ONNX Runtime differs from PyTorch: {worst}")
    return worst
