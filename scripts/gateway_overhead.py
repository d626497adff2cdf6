"""What the gateway adds to Triton at concurrency 1: median ``/ocr`` latency minus median direct ``ocr``
latency on the same images, as a fraction of the latter.

    .venv/bin/python -m scripts.gateway_overhead [--rounds 3] [--data DIR]

Starts the embedded Triton server and a gateway on free loopback ports, then sends every real benchmark
image (pages and scenes) through both, alternating direct and gateway requests image by image, for
``--rounds`` rounds. ``/ocr`` includes what the gateway does beyond Triton: header checks, decoding, colour
extraction, orientation, JSON. Also prints the gateway's own stage timings (medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import tritonclient.grpc as grpcclient

from devtools.stack import gateway_process
from ocrstack.evaluation.dataset import by_kind, load_samples
from ocrstack.serving.client import run_ocr
from ocrstack.serving.launcher.server import ServerOptions, TritonServer, free_ports


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--data", type=Path, help="real test set (default: ../shared/testdata/real)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    samples = load_samples(args.data)
    images = [s.path.read_bytes() for s in by_kind(samples, "page") + by_kind(samples, "icdar")]
    http, grpc, metrics, gateway_port = free_ports(4)
    with tempfile.TemporaryDirectory() as work:
        options = ServerOptions(args.repository, http, grpc, metrics, workdir=Path(work))
        with TritonServer(options, log_file=Path(work) / "triton.log") as triton:
            triton.wait_until_ready()
            env = {"OCRSTACK_TRITON_URL": f"127.0.0.1:{grpc}", "OCRSTACK_TRANSLATOR": "none"}
            with gateway_process(gateway_port, env, Path(work) / "gateway.log") as gateway:
                url = f"http://127.0.0.1:{gateway_port}"
                gateway.wait_http(url + "/readyz", timeout_s=120)
                return measure(images, grpc, url, args.rounds, args.lang)


def measure(images: list[bytes], grpc_port: int, url: str, rounds: int, lang: str) -> int:
    triton = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    direct: list[float] = []
    through: list[float] = []
    stages: dict[str, list[float]] = {}
    with httpx.Client(timeout=120) as client:
        for image in images[:2]:  # warm-up: first runs of each model path
            run_ocr(triton, grpcclient, image, lang=lang)
            client.post(f"{url}/ocr?source_lang={lang}", content=image, headers={"content-type": "image/png"})
        for _ in range(rounds):
            for image in images:
                start = time.perf_counter()
                run_ocr(triton, grpcclient, image, lang=lang)
                direct.append(time.perf_counter() - start)
                start = time.perf_counter()
                response = client.post(
                    f"{url}/ocr?source_lang={lang}", content=image, headers={"content-type": "image/png"}
                )
                through.append(time.perf_counter() - start)
                response.raise_for_status()
                for stage, ms in response.json()["timings_ms"].items():
                    stages.setdefault(stage, []).append(ms)
    direct_ms, gateway_ms = statistics.median(direct) * 1000, statistics.median(through) * 1000
    overhead = (gateway_ms - direct_ms) / direct_ms
    print(f"{len(images)} images x {rounds} rounds, concurrency 1, alternating")
    print(f"direct Triton ocr  median {direct_ms:8.1f} ms")
    print(f"gateway /ocr       median {gateway_ms:8.1f} ms")
    print(
        f"overhead           {gateway_ms - direct_ms:8.1f} ms = {overhead:.1%} of the direct latency"
        " (target <= 10%)"
    )
    print(
        "gateway stages (median ms): "
        + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in stages.items())
    )
    return 0 if overhead <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
