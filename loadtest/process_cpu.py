"""CPU time a local Triton server spends, by model.

Triton's own metrics give wall time per execution, which on a busy CPU counts the time a model waited
for a core. CPU time says what each model costs. The python backend runs every model instance in a
stub process of its own (the embedded onnxruntime backend too), started with the model file's path as
its first argument, so a stub's CPU time belongs to the model whose folder holds that file. The
server process itself (scheduling, the dynamic batcher, gRPC) is reported as :data:`SERVER`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import psutil

SERVER = "tritonserver"


def model_of(command_line: list[str]) -> str | None:
    """The model a backend stub serves: ``<repository>/<model>/<version>/<file>`` is its first argument."""
    if len(command_line) < 2:
        return None
    path = Path(command_line[1])
    return path.parents[1].name if len(path.parents) >= 2 and path.suffix in {".py", ".onnx"} else None


class ServerCpu:
    """Reads the CPU seconds (user + system) of a server process and its stubs, keyed by model; the
    process itself and children that serve no model count as ``name``."""

    def __init__(self, server_pid: int, name: str = SERVER) -> None:
        self.server = psutil.Process(server_pid)
        self.name = name

    def seconds(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for process in [self.server, *self.server.children(recursive=True)]:
            try:
                times = process.cpu_times()
                name = None if process.pid == self.server.pid else model_of(process.cmdline())
            except psutil.Error:  # a stub that ended in between has nothing more to count
                continue
            totals[name or self.name] += times.user + times.system
        return totals


def cpu_ms_per_item(before: Counter[str], after: Counter[str], items: int) -> dict[str, float]:
    """Milliseconds of CPU per item by model between two readings (models that used any)."""
    spent = {name: (after[name] - before[name]) * 1000 / max(items, 1) for name in after}
    return {name: round(ms, 1) for name, ms in sorted(spent.items()) if ms >= 0.5}


class StackCpu:
    """The CPU seconds of several process trees read together (a Triton server and a gateway), keyed by
    model or by each tree's name; ``spec`` is ``name=pid,...``."""

    def __init__(self, spec: str) -> None:
        pairs = [entry.strip().split("=", 1) for entry in spec.split(",") if entry.strip()]
        self.readers = [ServerCpu(int(pid), name) for name, pid in pairs]

    def seconds(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for reader in self.readers:
            totals.update(reader.seconds())
        return totals
