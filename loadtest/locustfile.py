"""Locust load test of the OCR service: batched against sequential recognition, step by step.

Users post images to the gateway's ``/ocr`` (``FastHttpUser``, raw image bytes, ``mode`` and
``source_lang`` in the query) or call Triton's ``ocr`` / ``ocr_sequential`` ensembles over gRPC (a client of
their own that reports to Locust's request events, Locust's custom-client pattern: the serving-only
figure). The load
shape walks the levels (1, 2, 4, 8, 16 users by default); at every level it runs each target in both
modes, the order alternating from level to level, each run a warm-up (not counted) and then a measured
window. Per measured window it records images/s, latency percentiles, errors, the load generator's own CPU
share and, given Triton's metrics URL, the model counters at both ends; they are written as JSON for
``loadtest/run.py`` (``make loadtest``), which also starts the stack and writes the report.

Settings (environment):

- ``LOADTEST_IMAGES``: folder of images, with ``images.json`` ([{"file", "lang"}]) or every image in it;
- ``LOADTEST_LEVELS`` (``1,2,4,8,16``), ``LOADTEST_WARMUP_S`` (10), ``LOADTEST_STEP_S`` (30);
- ``LOADTEST_TARGETS``: ``gateway`` and/or ``triton`` (default: gateway, and triton when a gRPC URL is set);
- ``LOADTEST_TRITON_GRPC`` (``HOST:PORT``), ``LOADTEST_METRICS_URL`` (Triton's ``/metrics``);
- ``LOADTEST_STEPS_OUT``: where the per-step JSON goes (default: none);
- ``LOADTEST_STACK_PIDS``: ``name=pid,...`` of the stack's processes on this machine (Triton and the
  gateway, as ``run.py`` passes them): their CPU seconds per window, by model (needs ``psutil``).

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8080

Only Locust and the standard library are needed for the gateway users (the Compose ``locust`` service
runs this file as it is); the gRPC users need ``tritonclient`` and this project's ``ocrstack`` package.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, constant, events, task

MODES = ("batched", "sequential")
TRITON_MODELS = {"batched": "ocr", "sequential": "ocr_sequential"}
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
SPAWN_RATE = 100.0  # users per second: a level's users all start at once

try:  # the gRPC target and Triton's counters: Triton's client under gevent, and this project's helpers
    import grpc.experimental.gevent as grpc_gevent
    import tritonclient.grpc as grpcclient

    from loadtest.server_metrics import Counters, scrape
    from ocrstack.serving.client import run_ocr

    grpc_gevent.init_gevent()
    HAVE_GRPC = True
except ImportError:
    HAVE_GRPC = False

try:  # CPU time of the stack's processes, when run.py started them on this machine
    from loadtest.process_cpu import StackCpu

    HAVE_STACK_CPU = True
except ImportError:
    HAVE_STACK_CPU = False


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


# --------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Image:
    name: str
    data: bytes
    content_type: str
    lang: str | None


def load_images(folder: Path) -> list[Image]:
    """The images of ``folder``: those ``images.json`` lists (with their language), else every image."""
    manifest = folder / "images.json"
    if manifest.exists():
        entries = json.loads(manifest.read_text())
    else:
        entries = [{"file": p.name} for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_TYPES]
    images = [
        Image(
            e["file"],
            (folder / e["file"]).read_bytes(),
            IMAGE_TYPES[Path(e["file"]).suffix.lower()],
            e.get("lang"),
        )
        for e in entries
    ]
    if not images:
        raise RuntimeError(f"no images in {folder} (set LOADTEST_IMAGES; make loadtest prepares a folder)")
    return images


IMAGES_DIR = Path(os.environ.get("LOADTEST_IMAGES", Path(__file__).resolve().parent / "images"))
_images: list[Image] = []
_user_numbers = itertools.count()


def all_images() -> list[Image]:
    if not _images:
        _images.extend(load_images(IMAGES_DIR))
    return _images


def first_image(user: int, count: int) -> int:
    """Where user ``user`` starts in a list of ``count`` images: at the fraction of the list that is
    ``user``'s binary digits mirrored after the point (0, 1/2, 1/4, 3/4, 1/8, 5/8...). The first n users
    start evenly spread over the whole list whatever n (exactly evenly for the default levels, powers of
    two), so that a window too short for whole passes reads the whole mix; starting user k at image k
    read mostly the first half of 16 images at 8 users, a lighter mix than the other levels'."""
    fraction, weight = 0.0, 0.5
    while user:
        fraction += weight * (user & 1)
        user, weight = user >> 1, weight / 2
    return int(fraction * count)


def image_cycle(user: int) -> Iterator[Image]:
    """The images in a fixed order from the user's own start (:func:`first_image`), so that concurrent
    users send different images, and each measured window starts the same sequences whatever its mode."""
    images = all_images()
    start = first_image(user, len(images))
    return itertools.cycle(images[start:] + images[:start])


# ---------------------------------------------------------------------------------------------- users


@dataclass
class Current:
    """What every user sends right now; the load shape switches it between steps. Without the shape (a
    Locust started by hand) it stays at ``LOADTEST_TARGET`` / ``LOADTEST_MODE``."""

    target: str = os.environ.get("LOADTEST_TARGET", "gateway")
    mode: str = os.environ.get("LOADTEST_MODE", "batched")
    window: int = 0  # a new measured window: every user starts its image sequence again


CURRENT = Current()


class TritonClient:
    """Triton's ensembles over gRPC in Locust's custom-client pattern: each call reports its own event."""

    def __init__(self, url: str, environment: Any) -> None:
        self.client = grpcclient.InferenceServerClient(url)
        self.environment = environment

    def ocr(self, image: Image, mode: str) -> None:
        start = time.perf_counter()
        error: Exception | None = None
        lines = 0
        try:
            lines = len(run_ocr(self.client, grpcclient, image.data, TRITON_MODELS[mode], image.lang).texts)
        except Exception as failure:  # reported to Locust as a failed request
            error = failure
        self.environment.events.request.fire(
            request_type="grpc",
            name=request_name("triton", mode),
            response_time=(time.perf_counter() - start) * 1000,
            response_length=lines,
            exception=error,
            context={},
        )

    def close(self) -> None:
        self.client.close()


class OcrUser(FastHttpUser):
    """One image after another, no pause: to the gateway's ``/ocr`` (raw bytes, options in the query) or
    straight to Triton, in the current mode."""

    wait_time = constant(0)
    connection_timeout = 30.0
    network_timeout = 300.0

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        self.window = CURRENT.window
        self.images = image_cycle(self.number)
        self.triton: TritonClient | None = None

    def on_stop(self) -> None:
        if self.triton is not None:
            self.triton.close()

    @task
    def ocr(self) -> None:
        if self.window != CURRENT.window:
            self.window, self.images = CURRENT.window, image_cycle(self.number)
        image, target, mode = next(self.images), CURRENT.target, CURRENT.mode
        if target == "triton":
            if self.triton is None:
                self.triton = TritonClient(os.environ["LOADTEST_TRITON_GRPC"], self.environment)
            self.triton.ocr(image, mode)
            return
        query = f"mode={mode}" + (f"&source_lang={image.lang}" if image.lang else "")
        with self.client.post(
            f"/ocr?{query}",
            # Sent as the body as it is: locust's annotation says str or dict, its docstring and
            # geventhttpclient's request take bytes too.
            data=image.data,  # type: ignore[arg-type]
            headers={"Content-Type": image.content_type},
            name=request_name(target, mode),
            catch_response=True,
        ) as response:
            if response.status_code == 200 and "lines" not in (response.json() or {}):
                response.failure("an answer without lines")


def request_name(target: str, mode: str) -> str:
    return f"/ocr {mode}" if target == "gateway" else TRITON_MODELS[mode]


# ------------------------------------------------------------------------------------ measured steps


@dataclass(frozen=True)
class Step:
    users: int
    target: str
    mode: str


def plan(levels: list[int], targets: list[str]) -> list[Step]:
    """Every level, every target, both modes; which mode goes first alternates from run to run."""
    steps: list[Step] = []
    for index, level in enumerate(levels):
        for offset, target in enumerate(targets):
            order = MODES if (index + offset) % 2 == 0 else MODES[::-1]
            steps.extend(Step(level, target, mode) for mode in order)
    return steps


def counter_deltas(before: Counters, after: Counters) -> dict[str, dict[str, float]]:
    """metric -> model -> increase between two scrapes."""
    deltas: dict[str, dict[str, float]] = {}
    for (metric, model), value in after.items():
        deltas.setdefault(metric, {})[model] = value - before.get((metric, model), 0.0)
    return deltas


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (linear between order statistics), None for no values."""
    if len(values) < 2:
        return round(values[0], 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stack_cpu_seconds(stack: StackCpu | None) -> dict[str, float]:
    """CPU seconds so far of the stack's processes, by model (Triton's stubs) or process name."""
    return dict(stack.seconds()) if stack is not None else {}


@dataclass
class Window:
    """One measured window: what the requests of its target and mode did while it was open."""

    step: Step
    started: float
    cpu_started: float
    counters_before: Counters | None
    stack_cpu_before: dict[str, float]
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def finish(self, metrics_url: str | None, stack: StackCpu | None) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        cpu = cpu_seconds() - self.cpu_started
        # counters_before was scraped from the same URL when the window opened.
        before = self.counters_before
        counters = counter_deltas(before, scrape(metrics_url)) if metrics_url and before is not None else {}
        stack_cpu = stack_cpu_seconds(stack)
        ok = self.latencies_ms
        return {
            "users": self.step.users,
            "target": self.step.target,
            "mode": self.step.mode,
            "seconds": round(seconds, 2),
            "requests": len(ok) + self.errors,
            "images_per_s": round(len(ok) / seconds, 3),
            "p50_ms": percentile(ok, 50),
            "p95_ms": percentile(ok, 95),
            "p99_ms": percentile(ok, 99),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "generator_cpu_share": round(cpu / seconds / (os.cpu_count() or 1), 3),
            "triton_counters": counters,
            "stack_cpu_s": {
                name: round(value - self.stack_cpu_before.get(name, 0.0), 3)
                for name, value in sorted(stack_cpu.items())
            },
        }


class Recorder:
    """Counts the current step's requests: all of them during its warm-up, per window while measuring."""

    def __init__(self) -> None:
        self.step: Step | None = None
        self.completed = 0
        self.window: Window | None = None
        self.results: list[dict[str, Any]] = []
        self.metrics_url = (os.environ.get("LOADTEST_METRICS_URL") or None) if HAVE_GRPC else None
        self.out = Path(os.environ["LOADTEST_STEPS_OUT"]) if os.environ.get("LOADTEST_STEPS_OUT") else None
        pids = os.environ.get("LOADTEST_STACK_PIDS", "")
        self.stack = StackCpu(pids) if pids and HAVE_STACK_CPU else None

    def begin_warm_up(self, step: Step) -> None:
        self.step, self.completed, self.window = step, 0, None

    def begin_measure(self) -> None:
        assert self.step is not None
        counters = scrape(self.metrics_url) if self.metrics_url else None
        self.window = Window(
            self.step, time.monotonic(), cpu_seconds(), counters, stack_cpu_seconds(self.stack)
        )
        self.completed = 0

    def end_measure(self) -> dict[str, Any]:
        assert self.window is not None
        result = self.window.finish(self.metrics_url, self.stack)
        self.results.append(result)
        self.window = None
        self.save()
        return result

    def save(self) -> None:
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(self.results, indent=1))

    def on_request(self, name: str, response_time: float, exception: Any) -> None:
        step = self.step
        if step is None or name != request_name(step.target, step.mode):
            return  # a user of the previous step finishing its last request
        self.completed += 1
        window = self.window
        if window is None:
            return
        if exception is None:
            window.latencies_ms.append(response_time)
        else:
            window.errors += 1
            if len(window.error_samples) < 5:
                window.error_samples.append(str(exception)[:300])


RECORDER = Recorder()


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: Any, **_kwargs: Any) -> None:
    RECORDER.on_request(name, response_time, exception)


class StepShape(LoadTestShape):
    """The levels x targets x modes plan, each step a warm-up and a measured window.

    A warm-up ends once its time is up *and* every user has finished a request in it; a measured window
    once its time is up *and* it holds a whole pass over the images and a request per user. Every user
    starts its image sequence again when a window opens, so that both modes read the same images. The
    users stay; between steps only what they send changes (:data:`CURRENT`), and their number
    when the level does."""

    def __init__(self) -> None:
        super().__init__()
        targets = env_list(
            "LOADTEST_TARGETS", "gateway,triton" if os.environ.get("LOADTEST_TRITON_GRPC") else "gateway"
        )
        if "triton" in targets and not HAVE_GRPC:
            raise RuntimeError("the triton target needs tritonclient and the ocrstack package")
        self.steps = plan([int(level) for level in env_list("LOADTEST_LEVELS", "1,2,4,8,16")], targets)
        self.warm_up_s = float(os.environ.get("LOADTEST_WARMUP_S", "10"))
        self.measure_s = float(os.environ.get("LOADTEST_STEP_S", "30"))
        self.index = 0
        self.phase = "start"
        self.phase_started = 0.0

    def tick(self) -> tuple[int, float] | None:
        if self.index >= len(self.steps):
            return None
        step = self.steps[self.index]
        elapsed = time.monotonic() - self.phase_started
        if self.phase == "start":
            self.begin(step)
        elif self.phase == "warm-up" and elapsed >= self.warm_up_s and RECORDER.completed >= step.users:
            self.phase, self.phase_started = "measure", time.monotonic()
            CURRENT.window += 1
            RECORDER.begin_measure()
        elif (
            self.phase == "measure"
            and elapsed >= self.measure_s
            and RECORDER.completed >= self.min_requests(step)
        ):
            result = RECORDER.end_measure()
            say(
                f"{self.label(step)}: {result['images_per_s']:.2f} images/s, p50 {result['p50_ms']} ms, "
                f"p95 {result['p95_ms']} ms, {result['errors']} errors"
            )
            self.index += 1
            if self.index >= len(self.steps):
                return None
            step = self.steps[self.index]
            self.begin(step)
        return step.users, SPAWN_RATE

    def min_requests(self, step: Step) -> int:
        """A window holds a whole pass over the images (the same images in both modes), and at least one
        request per user."""
        return max(step.users, len(all_images()))

    def begin(self, step: Step) -> None:
        """Every user sends this step's requests from now on; those of the previous step still in flight
        finish during the warm-up, and are not counted."""
        CURRENT.target, CURRENT.mode = step.target, step.mode
        self.phase, self.phase_started = "warm-up", time.monotonic()
        RECORDER.begin_warm_up(step)
        say(f"{self.label(step)}: warm-up")

    def label(self, step: Step) -> str:
        return f"[{self.index + 1}/{len(self.steps)}] {step.users:>2} users, {step.target} {step.mode}"


def say(text: str) -> None:
    print(text, flush=True)
