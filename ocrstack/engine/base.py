"""The interface every runtime implements, so that the pipeline never knows which one it drives."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class InferenceEngine(ABC):
    """Runs one model: named input arrays in, named output arrays out.

    Implementations hold no per-call state, so one engine may serve concurrent callers when its
    runtime allows it (ONNX Runtime sessions do).
    """

    @property
    @abstractmethod
    def input_names(self) -> list[str]: ...

    @property
    @abstractmethod
    def output_names(self) -> list[str]: ...

    @property
    @abstractmethod
    def metadata(self) -> dict[str, str]:
        """Custom metadata the model carries (charset, normalisation...)."""

    @abstractmethod
    def run(
        self, inputs: dict[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run the model; ``outputs`` limits what is computed and returned (default: every output)."""

    def run_single(self, array: np.ndarray) -> np.ndarray:
        """Convenience for the common one-input, one-output model."""
        (input_name,) = self.input_names
        return self.run({input_name: array})[self.output_names[0]]
