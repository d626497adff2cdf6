"""The embedded onnxruntime backend's request checks and batching: which requests run together, how a
merged batch is fed and cut back into answers. Framework-free (numpy), unit-tested without a server."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from ocrstack.serving.ort_backend.model_config import TensorSpec, format_dims

Arrays = Mapping[str, np.ndarray]


def _tensor_problem(spec: TensorSpec, array: np.ndarray, batched: bool) -> str | None:
    if array.dtype != spec.dtype:
        return f"input '{spec.name}' has data type {array.dtype}, expected {spec.data_type}"
    expected = format_dims(spec.dims, batched)
    if array.ndim != len(spec.dims) + batched:
        return f"input '{spec.name}' has shape {list(array.shape)}, expected {expected}"
    if array.size == 0:
        return f"input '{spec.name}' is empty (shape {list(array.shape)})"
    dims = array.shape[1:] if batched else array.shape
    if any(want >= 0 and got != want for want, got in zip(spec.dims, dims, strict=True)):
        return f"input '{spec.name}' has shape {list(array.shape)}, expected {expected}"
    return None


def request_error(arrays: Arrays, specs: Sequence[TensorSpec], max_batch_size: int) -> str | None:
    """Why a request cannot run (missing input, data type, shape, size, batch), or None when it can."""
    batched = max_batch_size > 0
    batch_sizes = set()
    for spec in specs:
        array = arrays.get(spec.name)
        if array is None:
            if spec.optional:
                continue
            return f"missing input '{spec.name}'"
        problem = _tensor_problem(spec, array, batched)
        if problem:
            return problem
        if batched:
            batch_sizes.add(array.shape[0])
    if len(batch_sizes) > 1:
        return f"inputs disagree on the batch size: {sorted(batch_sizes)}"
    if batch_sizes and max(batch_sizes) > max_batch_size:
        return f"batch size {max(batch_sizes)} exceeds max_batch_size {max_batch_size}"
    return None


def batch_size(arrays: Arrays, batched: bool) -> int:
    """Rows a request contributes to a batch: its first dimension, or 1 for a model without batching."""
    return next(iter(arrays.values())).shape[0] if batched else 1


def batch_key(arrays: Arrays) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Requests with equal keys can be concatenated: the same inputs, with the same non-batch shapes."""
    return tuple(sorted((name, tuple(array.shape[1:])) for name, array in arrays.items()))


def plan_batches(keys: Sequence[Hashable], sizes: Sequence[int], max_batch_size: int) -> list[list[int]]:
    """Indices of the requests to run together, in arrival order.

    Requests share a run when their keys are equal and the run stays within ``max_batch_size`` rows
    (Triton's batcher already keeps to it; a sequence or default scheduler may not). With
    ``max_batch_size`` 0 the model has no batch dimension and every request runs alone.
    """
    if max_batch_size <= 0:
        return [[index] for index in range(len(keys))]
    open_runs: dict[Hashable, tuple[list[int], int]] = {}
    runs: list[list[int]] = []
    for index, (key, size) in enumerate(zip(keys, sizes, strict=True)):
        current = open_runs.get(key)
        if current is None or current[1] + size > max_batch_size:
            current = ([], 0)
            runs.append(current[0])
        current[0].append(index)
        open_runs[key] = (current[0], current[1] + size)
    return runs


def concatenate(batch: Sequence[Arrays]) -> dict[str, np.ndarray]:
    """One feed for a run; a single request is passed through without a copy."""
    if len(batch) == 1:
        return dict(batch[0])
    return {name: np.concatenate([arrays[name] for arrays in batch]) for name in batch[0]}


def rows_per_run(feed: Arrays, max_elements: int) -> int | None:
    """How many batch rows one run may take under ``max_elements`` (None: no limit, or no rows)."""
    if max_elements <= 0 or not feed:
        return None
    largest_row = max(int(np.prod(array.shape[1:])) for array in feed.values())
    return max(1, max_elements // max(1, largest_row))


def run_in_slices(run: Callable[[Arrays], Arrays], feed: Arrays, rows: int | None) -> Arrays:
    """``run`` on ``feed`` whole, or on consecutive slices of ``rows`` batch rows joined back."""
    total = len(next(iter(feed.values())))
    if rows is None or rows >= total:
        return run(feed)
    parts = [run({k: v[start : start + rows] for k, v in feed.items()}) for start in range(0, total, rows)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def split_outputs(outputs: Arrays, sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """Cut a run's outputs back into one dict per request, by each request's batch size."""
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ValueError(
                f"output '{name}' has shape {list(array.shape)}: expected its first dimension to be the "
                f"batch of {total}"
            )
    bounds = np.cumsum(sizes)[:-1]
    pieces = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: pieces[name][i] for name in outputs} for i in range(len(sizes))]
