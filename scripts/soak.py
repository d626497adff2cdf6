"""Soak the whole stack: memory per big image, then many clients on ``/ocr`` with real images for minutes.

    python -m scripts.soak                                  # starts python -m devtools.stack, 16 x 300 s
    python -m scripts.soak --duration-s 60 --big 2          # shorter, two big-image rounds first
    python -m scripts.soak --stack-pid PID --url URL        # against a stack that is already running

The stack (``python -m devtools.stack``, what ``make run`` starts) runs on free loopback ports and is
stopped at the end. Memory is the proportional set size (PSS: shared pages split between the processes
that map them) summed over the supervisor and all its descendants: Triton, every python backend stub,
the gateway and the Papago-compatible server; plus the stack's ``/dev/shm`` segments, reported apart.

Phases:
1. ``--big N``: N rounds of big images, each sent alone, then three of them at once: a photo-like JPEG
   and an 8-bit RGBA PNG at the gateway's pixel limit (40 megapixels). For each, the peak of the stack's
   memory while it runs, above the idle level before it: what one request may cost.
2. ``--clients`` concurrent clients post the real pages (``--images``, read in place) to ``/ocr`` in
   turn for ``--duration-s``; every status is counted and the latency of each answer recorded.
Exit status 1 on any 5xx or transport error, or when memory grew more than ``--max-growth-mib`` from the
first minute of load to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]

from devtools.stack import ServiceProcess  # noqa: E402
from ocrstack.serving.launcher.server import free_ports  # noqa: E402

DEFAULT_IMAGES = [REPO.parent / "shared/testdata/real/pages", REPO.parent / "shared/testdata/real_ko"]
MIB = 1 << 20
Result = tuple[float, int, float]  # (end time, status, latency) of one request


@dataclass(frozen=True)
class Page:
    name: str
    data: bytes
    content_type: str
    lang: str | None


def real_pages(folders: list[Path]) -> list[Page]:
    """The page images of each folder; a folder with a gt.json takes its pages (and languages) from it."""
    pages: list[Page] = []
    for folder in folders:
        listing = folder / "gt.json"
        if listing.exists():
            entries = [e for e in json.loads(listing.read_text()) if e.get("kind") == "page"]
            items = [(folder / e["path"], e.get("lang")) for e in entries]
        else:
            items = [(p, None) for p in sorted(folder.iterdir()) if p.suffix.lower() in (".jpg", ".png")]
        for path, lang in items:
            kind = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
            pages.append(Page(path.name, path.read_bytes(), kind, lang))
    if not pages:
        raise SystemExit(f"no page images under {', '.join(map(str, folders))}")
    return pages


def big_images(pages: list[Page], pixels: int = 40_000_000) -> list[Page]:
    """A page blown up to ``pixels`` as a JPEG, and as an 8-bit RGBA PNG (text on a transparent sheet)."""
    image = cv2.imdecode(np.frombuffer(pages[0].data, np.uint8), cv2.IMREAD_COLOR)
    scale = (pixels / (image.shape[0] * image.shape[1])) ** 0.5 * 0.999
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    jpeg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    alpha = 255 - cv2.cvtColor(big, cv2.COLOR_BGR2GRAY)
    del big
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 3] = alpha
    png = cv2.imencode(".png", rgba, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    size = f"{alpha.shape[1]}x{alpha.shape[0]}"
    return [Page(f"{size} JPEG", jpeg, "image/jpeg", None), Page(f"{size} RGBA PNG", png, "image/png", None)]


def stack_processes(root: int) -> list[psutil.Process]:
    process = psutil.Process(root)
    return [process, *process.children(recursive=True)]


def stack_memory(root: int, shm_prefix: str | None) -> tuple[int, int, int]:
    """(PSS, RSS, /dev/shm bytes) of the stack rooted at ``root``."""
    pss = rss = 0
    for process in stack_processes(root):
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss, rss = pss + info.pss, rss + info.rss
    shm = 0
    if shm_prefix:
        for segment in Path("/dev/shm").glob(f"{shm_prefix}*"):
            with contextlib.suppress(FileNotFoundError):  # a segment removed meanwhile
                shm += segment.stat().st_blocks * 512
    return pss, rss, shm


@dataclass
class Sampler:
    """Samples the stack's memory on a thread every ``interval_s`` seconds."""

    root: int
    shm_prefix: str | None
    interval_s: float = 1.0
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), *stack_memory(self.root, self.shm_prefix)))
            self._stop.wait(self.interval_s)

    def pss_since(self, start: float) -> list[int]:
        return [pss for t, pss, _, _ in self.samples if t >= start]


def settle(root: int, shm_prefix: str | None, seconds: float = 3.0) -> int:
    time.sleep(seconds)
    return stack_memory(root, shm_prefix)[0]


def big_round(url: str, bigs: list[Page], root: int, shm_prefix: str | None) -> list[dict[str, object]]:
    """Each big image alone, then all of them three times over at once; the PSS peak above idle of each."""
    rows = []
    runs = [[page] for page in bigs] + [bigs * 3]
    for run in runs:
        idle = settle(root, shm_prefix)
        with Sampler(root, shm_prefix, interval_s=0.1) as sampler:
            answers = asyncio.run(post_all(url, run))
        statuses = [status for status, _ in answers]
        slowest = max(latency for _, latency in answers)
        peak = max(pss for _, pss, _, _ in sampler.samples)
        after = settle(root, shm_prefix)
        name = run[0].name if len(run) == 1 else f"{len(run)} at once"
        rows.append(
            {
                "images": name,
                "statuses": statuses,
                "slowest_s": slowest,
                "idle_mib": idle / MIB,
                "peak_above_idle_mib": (peak - idle) / MIB,
                "after_mib": after / MIB,
            }
        )
        print(
            f"  {name:>22}: statuses {statuses} in {slowest:5.1f} s, stack PSS idle {idle / MIB:7.0f} MiB,"
            f" peak +{(peak - idle) / MIB:6.0f} MiB, 3 s after {after / MIB:7.0f} MiB",
            flush=True,
        )
    return rows


async def post_all(url: str, pages: list[Page]) -> list[tuple[int, float]]:
    async with httpx.AsyncClient(timeout=120) as client:
        return await asyncio.gather(*(post(client, url, page) for page in pages))


def drain(url: str, page: Page, within_s: float = 10.0, limit_s: float = 600.0) -> float:
    """Wait until one page is answered within ``within_s``: Triton may still be reading requests the
    gateway has given up on (504), and the soak should not start behind them. Returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        status, latency = asyncio.run(post_all(url, [page]))[0]
        if status == 200 and latency <= within_s:
            break
    return time.monotonic() - start


async def post(client: httpx.AsyncClient, url: str, page: Page) -> tuple[int, float]:
    params = {"source_lang": page.lang} if page.lang else None
    start = time.perf_counter()
    try:
        response = await client.post(
            f"{url}/ocr", content=page.data, headers={"content-type": page.content_type}, params=params
        )
        status = response.status_code
    except httpx.HTTPError:
        status = 0  # transport error: counted with the failures
    return status, time.perf_counter() - start


async def soak(url: str, pages: list[Page], clients: int, duration_s: float) -> list[Result]:
    """(end time, status, latency) of every request of ``clients`` looping clients."""
    results: list[Result] = []
    deadline = time.monotonic() + duration_s

    async def client_loop(offset: int, client: httpx.AsyncClient) -> None:
        turn = offset
        while time.monotonic() < deadline:
            status, latency = await post(client, url, pages[turn % len(pages)])
            results.append((time.monotonic(), status, latency))
            turn += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        await asyncio.gather(*(client_loop(i, client) for i in range(clients)))
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timeline(results: list[Result], start: float, step_s: float = 60.0) -> list[dict[str, object]]:
    """Per ``step_s`` of the soak: answers, non-200 statuses, median and slowest latency."""
    rows = []
    for index in range(int(max((t - start for t, _, _ in results), default=0) // step_s) + 1):
        part = [(s, lat) for t, s, lat in results if index * step_s <= t - start < (index + 1) * step_s]
        latencies = [lat for _, lat in part]
        rows.append(
            {
                "from_s": index * step_s,
                "answers": len(part),
                "not_200": dict(Counter(s for s, _ in part if s != 200)),
                "p50_s": statistics.median(latencies) if latencies else None,
                "max_s": max(latencies) if latencies else None,
            }
        )
    return rows


def soak_report(
    results: list[Result], sampler: Sampler, start: float, duration_s: float
) -> dict[str, object]:
    statuses = Counter(status for _, status, _ in results)
    latencies = [latency for _, status, latency in results if status == 200]
    pss = sampler.pss_since(start)
    window = min(60.0, duration_s / 3)
    first = [p for t, p, _, _ in sampler.samples if start <= t < start + window]
    last = [p for t, p, _, _ in sampler.samples if t >= start + duration_s - window]
    return {
        "requests": len(results),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500 or k == 0),
        "throughput_per_s": len(results) / duration_s,
        "latency_s": {
            "p50": statistics.median(latencies) if latencies else None,
            "p95": percentile(latencies, 95) if latencies else None,
            "p99": percentile(latencies, 99) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "memory_pss_mib": {
            "start": pss[0] / MIB,
            "end": pss[-1] / MIB,
            "peak": max(pss) / MIB,
            "first_window_median": statistics.median(first) / MIB if first else None,
            "last_window_median": statistics.median(last) / MIB if last else None,
            "window_s": window,
        },
        "timeline": timeline(results, start),
        "memory_rss_peak_mib": max(r for t, _, r, _ in sampler.samples if t >= start) / MIB,
        "shm_peak_mib": max(s for t, _, _, s in sampler.samples if t >= start) / MIB,
    }


def start_stack(
    workdir: Path, repository: Path = REPO / "model_repository"
) -> tuple[ServiceProcess, str, int, str]:
    gateway, http, grpc, metrics, papago = free_ports(5)
    args = [f"--port={gateway}", f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}"]
    args += [f"--papago-port={papago}", f"--workdir={workdir}", f"--repository={repository}"]
    stack = ServiceProcess("devtools.stack", args, {}, workdir / "stack.log").start()
    url = f"http://127.0.0.1:{gateway}"
    print(f"starting the stack (log {workdir / 'stack.log'}) ...", flush=True)
    stack.wait_http(f"{url}/readyz", timeout_s=600)
    assert stack.process is not None
    return stack, url, stack.process.pid, f"ocrstack{stack.process.pid}_{grpc}_"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--warm-up-s", type=float, default=20.0, help="load before the measured window")
    parser.add_argument("--big", type=int, default=1, help="rounds of big images before the soak (0: none)")
    parser.add_argument("--images", type=Path, nargs="+", default=DEFAULT_IMAGES)
    parser.add_argument("--url", help="a running gateway (with --stack-pid); else a stack is started")
    parser.add_argument("--stack-pid", type=int, help="root process of that stack, for its memory")
    parser.add_argument("--workdir", type=Path, default=REPO / "build/soak")
    parser.add_argument("--repository", type=Path, default=REPO / "model_repository")
    parser.add_argument("--max-growth-mib", type=float, default=256.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    pages = real_pages(args.images)
    stack = None
    if args.url:
        if args.stack_pid is None:
            parser.error("--url needs --stack-pid")
        url, root, prefix = args.url.rstrip("/"), args.stack_pid, None
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        stack, url, root, prefix = start_stack(args.workdir, args.repository)
    report: dict[str, object] = {"pages": len(pages), "clients": args.clients, "duration_s": args.duration_s}
    try:
        report["ready_pss_mib"] = stack_memory(root, prefix)[0] / MIB
        print(f"stack ready: PSS {report['ready_pss_mib']:.0f} MiB; {len(pages)} real pages", flush=True)
        asyncio.run(soak(url, pages, args.clients, args.warm_up_s))
        if args.big:
            bigs = big_images(pages)
            print(f"big images ({', '.join(f'{p.name} {len(p.data) // 1024} KB' for p in bigs)}):")
            report["big"] = [big_round(url, bigs, root, prefix) for _ in range(args.big)]
            report["drain_s"] = drain(url, pages[0])
            print(f"  the stack answers a page again within 10 s after {report['drain_s']:.0f} s", flush=True)
        print(f"{args.clients} clients on /ocr for {args.duration_s:.0f} s ...", flush=True)
        with Sampler(root, prefix, interval_s=2.0) as sampler:
            start = time.monotonic()
            results = asyncio.run(soak(url, pages, args.clients, args.duration_s))
        report["soak"] = soak_report(results, sampler, start, args.duration_s)
    finally:
        if stack is not None:
            stack.stop(timeout_s=60)
    print(json.dumps(report.get("soak", {}), indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    soaked = report.get("soak")
    if not isinstance(soaked, dict):
        return 1
    memory = soaked["memory_pss_mib"]
    growth = memory["last_window_median"] - memory["first_window_median"]
    print(f"memory growth over the soak: {growth:+.0f} MiB (limit {args.max_growth_mib:.0f})")
    return int(soaked["server_errors"] > 0 or growth > args.max_growth_mib)


if __name__ == "__main__":
    sys.exit(main())
