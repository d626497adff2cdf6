"""Per-request stage timings, reported in responses (``timings_ms``) and as Prometheus histograms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; a stage entered twice (one per image of a batch) adds up."""
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + (time.perf_counter() - begin) * 1000

    def report(self) -> dict[str, float]:
        total = (time.perf_counter() - self.start) * 1000
        return {**{k: round(v, 2) for k, v in self.stages.items()}, "total": round(total, 2)}
