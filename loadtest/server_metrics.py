"""Triton's Prometheus metrics, read back: counters per model, and the batch sizes they imply."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Counters = dict[tuple[str, str], float]  # (metric name, model) -> value, summed over versions


def parse_model_counters(text: str) -> Counters:
    """Every sample that carries a ``model`` label, summed over the model's versions."""
    counters: Counters = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if "model" in labels:
            key = (match["name"], labels["model"])
            counters[key] = counters.get(key, 0.0) + float(match["value"])
    return counters


def scrape(metrics_url: str, timeout_s: float = 5.0) -> Counters:
    with urllib.request.urlopen(metrics_url, timeout=timeout_s) as response:
        return parse_model_counters(response.read().decode("utf-8"))


@dataclass(frozen=True)
class BatchStats:
    inferences: float  # requests (for batching models: batch items) served
    executions: float  # model executions those were merged into

    @property
    def average_batch(self) -> float:
        """Average executed batch size; 0 when nothing ran."""
        return self.inferences / self.executions if self.executions else 0.0


def batch_stats(
    before: Mapping[tuple[str, str], float], after: Mapping[tuple[str, str], float], model: str
) -> BatchStats:
    """Δnv_inference_count / Δnv_inference_exec_count of ``model`` between two scrapes."""

    def delta(metric: str) -> float:
        return after.get((metric, model), 0.0) - before.get((metric, model), 0.0)

    return BatchStats(delta("nv_inference_count"), delta("nv_inference_exec_count"))
