"""A tiny load test against the test stack: both modes, through the gateway and straight at Triton."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack import gateway_process
from loadtest import run
from ocrstack.serving.launcher.server import ServerOptions, free_ports

SUMMARY_KEYS = {
    "levels",
    "batched",
    "sequential",
    "batched_over_sequential",
    "avg_batch_size",
    "peers",
    "pipeline_over_peer",
    "device",
}


@pytest.fixture(scope="module")
def gateway(triton: ServerOptions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    (port,) = free_ports(1)
    env = {"OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}", "OCRSTACK_TRANSLATOR": "none"}
    log = tmp_path_factory.mktemp("loadtest_gateway") / "gateway.log"
    with gateway_process(port, env, log) as process:
        process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=120)
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_a_tiny_load_test_writes_its_summary_with_no_errors(
    gateway: str, triton: ServerOptions, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    status = run.main(
        [
            "--gateway-url", gateway,
            "--triton-grpc", f"127.0.0.1:{triton.grpc_port}",
            "--metrics-url", f"http://127.0.0.1:{triton.metrics_port}/metrics",
            "--levels", "2", "--warm-up-s", "1", "--step-s", "2", "--targets", "gateway", "triton",
            "--peer-s", "0", "--no-roofline", "--no-batch-cost", "--no-real-images", "--out", str(out),
        ]
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert status == 0
    assert set(summary) == SUMMARY_KEYS
    for mode in ("batched", "sequential"):
        figures = summary[mode]["2"]
        assert figures["errors"] == 0 and figures["images_per_s"] > 0, mode
    steps = json.loads((out / "steps.json").read_text())
    assert {(s["target"], s["mode"]) for s in steps} == {
        (target, mode) for target in ("gateway", "triton") for mode in ("batched", "sequential")
    }
    assert all(s["errors"] == 0 for s in steps)
    # The sequential mode ran on the recognizers' unbatched twins, one crop per execution.
    assert set(summary["avg_batch_size"]["sequential"]["text_recognition_ch_sequential"].values()) == {1.0}
    assert "text_recognition_ch" not in summary["avg_batch_size"]["sequential"]
    for name in (
        "report.md",
        "throughput.png",
        "latency.png",
        "batch.png",
        "locust.html",
        "locust_stats.csv",
    ):
        assert (out / name).stat().st_size > 0, name


def test_the_users_of_every_level_start_spread_over_the_whole_image_list() -> None:
    # In a process of its own: importing Locust patches the standard library for gevent.
    script = (
        "from loadtest.locustfile import first_image\n"
        "print([[first_image(user, 16) for user in range(n)] for n in (1, 2, 3, 4, 6, 8, 16)])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    for starts in ast.literal_eval(done.stdout.strip().splitlines()[-1]):
        n = len(starts)
        assert len(set(starts)) == n  # no two users of a level on the same sequence
        ends = [*sorted(starts), sorted(starts)[0] + 16]
        assert max(b - a for a, b in itertools.pairwise(ends)) <= -(-16 * 2 // n)  # no long unread stretch
        assert n < 8 or max(starts) >= 12  # the second half is reached too (user k at image k: max 7)
