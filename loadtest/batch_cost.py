"""What a batch buys the recognizers on this machine: cost per crop against batch size, in process.

Each batched recognizer of the model repository is run by ONNX Runtime on its served ONNX file, with the
session and run options the embedded backend gives it (``ocrstack.serving.ort_backend.session``),
on random crops at its first width bucket (where most lines fall), for batches of 1 to 16 crops:

- **whole**: the batch as one run, what a GPU backend (and the container's C++ backend) does;
- **as served**: the batch cut into runs of at most ``max_elements_per_run`` input elements, as the
  embedded backend runs a merged batch (``ocrstack.serving.ort_backend.batching.run_in_slices``).

Figures are wall milliseconds per crop over a pass of about 32 crops, the lowest of three passes,
measured before the stack starts so that nothing else of the test runs beside them. Whatever a larger
batch saves per crop here is the most that batching can save in the recognizer's own runs; the rest of
what it can save is the work around each request (the BLS round trip, scheduling, the stub's copies),
which the per-step CPU figures show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from google.protobuf import json_format

from convert.repository import model_path
from ocrstack.config import RECOGNIZERS
from ocrstack.serving.ort_backend import batching, model_config
from ocrstack.serving.ort_backend.session import ArenaRuns, session_options
from ocrstack.serving.repository import model_names, read_model_config

BATCHES = (1, 2, 4, 8, 16)
Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchCost:
    model: str
    width: int
    threads: int  # intra-op threads of one instance (0: ONNX Runtime's choice)
    max_elements_per_run: int  # the embedded backend's slice limit (0: runs a batch whole)
    whole_ms: dict[int, float]  # batch size -> ms per crop, one run per batch
    served_ms: dict[int, float]  # batch size -> ms per crop, in runs of at most max_elements_per_run


def batched_recognizers(repository: Path) -> list[str]:
    """The repository's recognizers that batched mode sends chunks of crops to (not their twins)."""
    return sorted(model_names(repository) & set(RECOGNIZERS))


def ms_per_crop(
    run: Callable[[Feed], object],
    feed: Feed,
    runs_per_pass: int,
    passes: int,
    clock: Callable[[], float] = time.perf_counter,
    warm_up_runs: int = 1,
) -> float:
    """Milliseconds by ``clock`` (wall time by default, ``time.process_time`` for CPU time) per crop of a
    pass of ``runs_per_pass`` runs on ``feed``, the lowest of ``passes`` passes, after ``warm_up_runs``
    runs (the first run of a shape allocates)."""
    crops = len(next(iter(feed.values()))) * runs_per_pass
    for _ in range(warm_up_runs):
        run(feed)
    best = float("inf")
    for _ in range(passes):
        start = clock()
        for _ in range(runs_per_pass):
            run(feed)
        best = min(best, (clock() - start) / crops * 1000)
    return best


def measure(
    repository: Path, name: str, batches: Sequence[int] = BATCHES, crops_per_pass: int = 32, passes: int = 3
) -> BatchCost:
    """Cost per crop of recognizer ``name`` against batch size, whole and as served."""
    model_dir = repository / name
    config = json_format.MessageToDict(read_model_config(model_dir), preserving_proto_field_name=True)
    settings = model_config.session_settings(config)
    record = RECOGNIZERS[name]
    session = ort.InferenceSession(
        str(model_path(repository, name)), session_options(settings), providers=["CPUExecutionProvider"]
    )
    arena = ArenaRuns(settings)  # the arena kept or given back as the server's runs do
    width = record.width_buckets[0]
    input_name = session.get_inputs()[0].name
    outputs = [record.classes_output, record.class_scores_output]
    rng = np.random.default_rng(0)  # the cost of a run does not depend on the pixels

    def run(feed: Feed) -> object:
        return session.run(outputs, feed, arena.next())

    def served(feed: Feed) -> object:
        rows = batching.rows_per_run(feed, settings.max_elements_per_run)
        return batching.run_in_slices(
            lambda part: dict(zip(outputs, session.run(outputs, part, arena.next()), strict=True)), feed, rows
        )

    whole: dict[int, float] = {}
    as_served: dict[int, float] = {}
    for batch in batches:
        feed = {input_name: rng.random((batch, 3, record.height, width), dtype=np.float32)}
        runs = max(1, crops_per_pass // batch)  # every pass times about the same number of crops
        whole[batch] = ms_per_crop(run, feed, runs, passes)
        as_served[batch] = ms_per_crop(served, feed, runs, passes)
    return BatchCost(name, width, settings.intra_op_threads, settings.max_elements_per_run, whole, as_served)


def report_lines(costs: Sequence[BatchCost]) -> list[str]:
    """The table of ``report.md``: ms per crop against batch size, whole and as served."""
    if not costs:
        return ["No batched recognizer was measured."]
    batches = list(costs[0].whole_ms)
    header = "| model (width, threads) | run | " + " | ".join(f"batch {b}" for b in batches) + " |"
    lines = [header, "|---|---|" + "---|" * len(batches)]
    for cost in costs:
        label = f"{cost.model} ({cost.width}, {cost.threads or 'auto'})"
        limit = cost.max_elements_per_run
        served_label = f"as served (runs of {limit} elements)" if limit else "as served (whole)"
        for run_label, figures in (("whole", cost.whole_ms), (served_label, cost.served_ms)):
            cells = " | ".join(f"{figures[b]:.1f}" for b in batches)
            lines.append(f"| {label} | {run_label} | {cells} |")
    return lines
