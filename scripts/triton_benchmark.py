"""Batched against sequential recognition on Triton: throughput, latency and executed batch sizes.

    .venv/bin/python -m scripts.triton_benchmark [--concurrency 1 4 8] [--rounds 2] [--json OUT]

Starts the embedded Triton server on free ports (or uses ``--url HOST:GRPC_PORT --metrics-url URL``),
sends the real benchmark images (pages and scenes) through ``ocr`` and ``ocr_sequential`` at each
concurrency level, alternating the two models round by round, and prints per model and level: images/s,
p50/p95/p99 latency, and each model's average executed batch size (Δnv_inference_count /
Δnv_inference_exec_count) with requests merged per execution. Medians over rounds; the client's own
CPU share is printed too, since it runs on the same cores as the server. When the script starts the
server, it also prints the CPU time each model's processes spent per image
(:mod:`loadtest.process_cpu`): on a saturated CPU, throughput is the cores divided by that.

Before measuring, every model is driven once at the highest concurrency level, so that the batch shapes
the runs will see have been allocated and planned by ONNX Runtime once already.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tqdm import tqdm

from loadtest.process_cpu import ServerCpu, cpu_ms_per_item
from loadtest.server_metrics import Counters, batch_stats, scrape
from ocrstack.evaluation.dataset import by_kind, data_root, load_samples
from ocrstack.serving.client import run_ocr
from ocrstack.serving.launcher.server import ServerOptions, TritonServer, free_ports

MODELS = ("ocr", "ocr_sequential")
# A composing model records its statistics just after the ensemble has answered the client.
METRICS_SETTLE_S = 0.5
WATCHED = ("text_detection", "text_recognition_ch", "crop_recognize", "crop_recognize_sequential")


@dataclass
class RunFigures:
    model: str
    concurrency: int
    images_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    client_cpu_share: float  # client CPU seconds / wall seconds / cores
    batch: dict[str, float]  # model -> average executed batch size
    requests_per_exec: dict[str, float]
    compute_ms_per_image: dict[str, float]  # model -> server compute time spent per image
    cpu_ms_per_image: dict[str, float]  # model (and tritonserver) -> CPU time per image; {} if remote


def benchmark_images(root: Path | None) -> list[bytes]:
    samples = load_samples(root)
    return [s.path.read_bytes() for s in by_kind(samples, "page") + by_kind(samples, "icdar")]


def drive(url: str, model: str, images: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Send every image once from ``concurrency`` workers; returns wall seconds and latencies (s)."""
    jobs: queue.Queue[bytes] = queue.Queue()
    for image in images:
        jobs.put(image)
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        client = grpcclient.InferenceServerClient(url)
        while True:
            try:
                image = jobs.get_nowait()
            except queue.Empty:
                return
            start = time.perf_counter()
            try:
                run_ocr(client, grpcclient, image, model=model)
            except Exception as error:  # counted: a load test must see zero errors
                errors.append(error)
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(images)} requests failed, first: {errors[0]}")
    return time.perf_counter() - start, latencies


def measure(
    url: str,
    metrics_url: str,
    model: str,
    images: list[bytes],
    concurrency: int,
    server_cpu: ServerCpu | None = None,
) -> RunFigures:
    before: Counters = scrape(metrics_url)
    server_before = server_cpu.seconds() if server_cpu else None
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall, latencies = drive(url, model, images, concurrency)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    server_after = server_cpu.seconds() if server_cpu else None
    time.sleep(METRICS_SETTLE_S)
    after = scrape(metrics_url)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    ms = np.array(latencies) * 1000
    stats = {name: batch_stats(before, after, name) for name in WATCHED}

    def delta(metric: str, name: str) -> float:
        return after.get((metric, name), 0.0) - before.get((metric, name), 0.0)

    requests = {n: delta("nv_inference_request_success", n) for n in WATCHED}
    compute = {n: delta("nv_inference_compute_infer_duration_us", n) / 1000 / len(images) for n in WATCHED}
    return RunFigures(
        model=model,
        concurrency=concurrency,
        images_per_s=len(images) / wall,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        client_cpu_share=cpu / wall / (os.cpu_count() or 1),
        batch={n: round(s.average_batch, 2) for n, s in stats.items() if s.executions},
        requests_per_exec={n: round(requests[n] / s.executions, 2) for n, s in stats.items() if s.executions},
        compute_ms_per_image={n: round(c, 1) for n, c in compute.items() if c},
        cpu_ms_per_image=(
            cpu_ms_per_item(server_before, server_after, len(images))
            if server_before is not None and server_after is not None
            else {}
        ),
    )


def median_run(runs: list[RunFigures]) -> RunFigures:
    """Medians of the numeric figures over rounds; batch figures from the median-throughput round."""
    middle = sorted(runs, key=lambda r: r.images_per_s)[len(runs) // 2]
    return RunFigures(
        model=runs[0].model,
        concurrency=runs[0].concurrency,
        images_per_s=statistics.median(r.images_per_s for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p95_ms=statistics.median(r.p95_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        client_cpu_share=statistics.median(r.client_cpu_share for r in runs),
        batch=middle.batch,
        requests_per_exec=middle.requests_per_exec,
        compute_ms_per_image=middle.compute_ms_per_image,
        cpu_ms_per_image=middle.cpu_ms_per_image,
    )


def print_table(results: list[RunFigures]) -> None:
    header = f"{'model':<15}{'conc':>5}{'img/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'client cpu':>11}"
    print(f"{header}  per model: average batch (requests per execution), compute ms per image")
    for r in results:
        batches = ", ".join(
            f"{n} {b:g} ({r.requests_per_exec[n]:g}) {r.compute_ms_per_image.get(n, 0):g} ms"
            for n, b in r.batch.items()
        )
        print(
            f"{r.model:<15}{r.concurrency:>5}{r.images_per_s:>8.2f}{r.p50_ms:>9.0f}{r.p95_ms:>9.0f}"
            f"{r.p99_ms:>9.0f}{r.client_cpu_share:>10.0%}  {batches}"
        )
    if any(r.cpu_ms_per_image for r in results):
        print("CPU ms per image by process (median-throughput round):")
        for r in results:
            spent = ", ".join(f"{n} {ms:g}" for n, ms in r.cpu_ms_per_image.items())
            total_ms = sum(r.cpu_ms_per_image.values())
            print(f"  {r.model:<15}{r.concurrency:>5}  total {total_ms:.0f}: {spent}")
    by_level: dict[int, dict[str, RunFigures]] = {}
    for r in results:
        by_level.setdefault(r.concurrency, {})[r.model] = r
    for level, runs in sorted(by_level.items()):
        if set(MODELS) <= set(runs):
            ratio = runs["ocr"].images_per_s / runs["ocr_sequential"].images_per_s
            print(f"concurrency {level}: batched / sequential throughput = {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="gRPC HOST:PORT of a running server (default: start one)")
    parser.add_argument("--metrics-url", help="its metrics URL, with --url")
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--data", type=Path, help="real test set (default: ../shared/testdata/real)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per level, models alternating")
    parser.add_argument("--passes", type=int, default=1, help="passes over the images per round")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    images = benchmark_images(args.data or data_root()) * args.passes
    with ExitStack() as stack:
        url, metrics_url = args.url, args.metrics_url
        server_cpu = None
        if url is None:
            http_port, grpc_port, metrics_port = free_ports(3)
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            options = ServerOptions(args.repository, http_port, grpc_port, metrics_port, workdir=workdir)
            server = stack.enter_context(TritonServer(options, log_file=workdir / "triton.log"))
            server.wait_until_ready()
            url, metrics_url = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{metrics_port}/metrics"
            assert server.process is not None
            server_cpu = ServerCpu(server.process.pid)
        for model in MODELS:  # warm-up (see the module docstring)
            drive(url, model, images[: len(images) // args.passes], max(args.concurrency))
        results: list[RunFigures] = []
        steps = [(level, r) for level in args.concurrency for r in range(args.rounds)]
        for level, round_index in tqdm(steps, desc="benchmark", unit="round"):
            order = MODELS if round_index % 2 == 0 else MODELS[::-1]
            runs = {model: measure(url, metrics_url, model, images, level, server_cpu) for model in order}
            results.extend(runs.values())
    merged = [
        median_run([r for r in results if r.model == m and r.concurrency == c])
        for c in args.concurrency
        for m in MODELS
    ]
    print(f"{len(images)} images per round, {args.rounds} rounds per level")
    print_table(merged)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in merged], indent=2))


if __name__ == "__main__":
    main()
