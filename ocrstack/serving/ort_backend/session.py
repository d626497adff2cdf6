"""ONNX Runtime's session and run options from a model config's session settings.

Used by the embedded onnxruntime backend for every instance it serves, and by whatever measures a model
as that backend runs it (``loadtest/batch_cost.py``), so that both run a model the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from ocrstack.serving.ort_backend.model_config import SessionSettings

STATM = Path("/proc/self/statm")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def session_options(settings: SessionSettings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL if settings.parallel_execution else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, settings.graph_optimization)
    if settings.enable_mem_arena is not None:
        options.enable_cpu_mem_arena = settings.enable_mem_arena
    if settings.enable_mem_pattern is not None:
        options.enable_mem_pattern = settings.enable_mem_pattern
    if settings.allow_spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(settings.allow_spinning)))
    return options


def run_options(settings: SessionSettings, shrink: bool = True) -> ort.RunOptions:
    """Runs give the CPU arena's unused memory back at their end (where the arena is on and ``shrink``)."""
    options = ort.RunOptions()
    if shrink and settings.arena_shrinkage and settings.enable_mem_arena is not False:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def resident_mib() -> int | None:
    """This process's resident memory in MiB; None where ``/proc`` does not say (not Linux)."""
    try:
        pages = int(STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * PAGE_SIZE >> 20


def over_arena_budget(settings: SessionSettings) -> bool:
    """Whether the next run should give the arena back: always without a budget (or when the process's
    memory cannot be read), else once the process's resident memory is above it."""
    if not settings.arena_budget_mib:
        return True
    resident = resident_mib()
    return resident is None or resident > settings.arena_budget_mib


class ArenaRuns:
    """The run options for a session's next run: the arena given back at its end where the settings say
    so (with a budget, only while the process is above it)."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self.shrinking = run_options(settings)
        self.keeping = run_options(settings, shrink=False)

    def next(self) -> ort.RunOptions:
        return self.shrinking if over_arena_budget(self.settings) else self.keeping
