"""``python -m devtools.stack``: the whole service on one machine, what ``make run`` starts.

The embedded Triton server, the gateway, and — unless Papago credentials are in the environment
(``OCRSTACK_PAPAGO_KEY_ID`` / ``OCRSTACK_PAPAGO_KEY``) — the project's Papago-compatible server on
loopback, so that translation works end to end without an account. Ctrl-C (or SIGTERM) stops all three.
:class:`ServiceProcess` is also how the tests start the gateway and the Papago-compatible server.

Each process is supervised: one that exits is started again after a backoff (1 s, doubling to 30 s, back
to 1 s once it has run for a minute), and a Triton that dies leaves no python backend stub and no
``/dev/shm`` segment behind; the gateway answers 503 meanwhile and its readiness follows Triton's. A clean
stop does the same clean-up. In containers and on Kubernetes the orchestrator restarts instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from devtools.papago_server import DEFAULT_KEY, DEFAULT_KEY_ID
from ocrstack.serving.launcher.process import ManagedProcess
from ocrstack.serving.launcher.server import LauncherError, ServerOptions, TritonServer, server_command

REPO_ROOT = Path(__file__).resolve().parents[1]


class ServiceProcess(ManagedProcess):
    """A Python service run as ``python -m MODULE ARGS`` with its output in ``log``; a context manager
    that stops it (SIGTERM, then SIGKILL) on exit."""

    stop_timeout_s = 10.0

    def __init__(self, module: str, args: Sequence[str], env: Mapping[str, str], log: Path | None) -> None:
        # The applications run from the checkout, not from site-packages: found wherever the caller stands.
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        super().__init__(log)
        self.command = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, "PYTHONPATH": path, **env}

    def launch(self) -> tuple[list[str], dict[str, str] | None]:
        return self.command, self.env

    def wait_http(self, url: str, timeout_s: float = 60.0) -> None:
        """Until ``url`` answers 200; LauncherError (with the log's tail) if the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise LauncherError(f"{' '.join(self.command[2:4])} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise LauncherError(f"{url} did not answer within {timeout_s:.0f} s:\n{self.log_tail()}")


def papago_compatible(port: int, log: Path | None) -> ServiceProcess:
    args = ["--host", "127.0.0.1", "--port", str(port), "--key-id", DEFAULT_KEY_ID, "--key", DEFAULT_KEY]
    return ServiceProcess("devtools.papago_server", args, {}, log)


def gateway_process(
    port: int, env: Mapping[str, str], log: Path | None, host: str = "127.0.0.1"
) -> ServiceProcess:
    return ServiceProcess("gateway", ["--host", host, "--port", str(port)], env, log)


def local_papago_env(port: int) -> dict[str, str]:
    """Gateway settings that translate through the Papago-compatible server on ``port``."""
    return {
        "OCRSTACK_TRANSLATOR": "papago",
        "OCRSTACK_PAPAGO_ENDPOINT": f"http://127.0.0.1:{port}/nmt/v1/translation",
        "OCRSTACK_PAPAGO_KEY_ID": DEFAULT_KEY_ID,
        "OCRSTACK_PAPAGO_KEY": DEFAULT_KEY,
    }


@dataclass
class Supervised:
    """One process the supervisor keeps running: ``start`` (re)starts it, ``returncode`` is None while it
    runs (and reaps it when it has exited), ``clean_up`` runs after it exits, before the restart."""

    name: str
    start: Callable[[], object]
    returncode: Callable[[], int | None]
    clean_up: Callable[[], object] = lambda: None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Restart with backoff: ``first_s`` doubling up to ``max_s``; a process that ran ``stable_s``
    starts again from ``first_s``. :meth:`check` does one round; the caller sleeps between rounds."""

    units: list[Supervised]
    first_s: float = 1.0
    max_s: float = 30.0
    stable_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], object] = field(default=lambda text: print(text, file=sys.stderr, flush=True))

    def started(self) -> None:
        now = self.clock()
        for unit in self.units:
            unit.started_at = now

    def check(self) -> None:
        now = self.clock()
        for unit in self.units:
            if unit.restart_at is None:
                self._watch(unit, now)
            elif now >= unit.restart_at:
                self._restart(unit, now)

    def _watch(self, unit: Supervised, now: float) -> None:
        code = unit.returncode()
        if code is None:
            if now - unit.started_at >= self.stable_s:
                unit.failures = 0
            return
        unit.clean_up()
        self._schedule(unit, now, f"{unit.name} exited with status {code}")

    def _restart(self, unit: Supervised, now: float) -> None:
        unit.restart_at = None
        unit.started_at = now
        try:
            unit.start()
            self.say(f"{unit.name} restarted")
        except Exception as error:  # a start that fails is retried like an exit
            self._schedule(unit, now, f"{unit.name} did not start ({error})")

    def _schedule(self, unit: Supervised, now: float, why: str) -> None:
        delay = min(self.max_s, self.first_s * 2**unit.failures)
        unit.failures += 1
        unit.restart_at = now + delay
        self.say(f"{why}; restarting in {delay:g} s")


def shm_prefix(options: ServerOptions) -> str:
    """The prefix of the python backend's shared-memory regions (and so of its stubs' arguments), as the
    launcher names them for this process."""
    for arg in server_command(options, Path()):
        if "shm-region-prefix-name=" in arg:
            return arg.split("shm-region-prefix-name=", 1)[1]
    raise LauncherError("the launcher sets no shared-memory prefix")


def clean_up_stubs(prefix: str, shm_dir: Path = Path("/dev/shm"), grace_s: float = 5.0) -> list[int]:
    """Stop the processes whose command line names ``prefix`` (python backend stubs, which outlive a
    Triton that was killed or hang on exit) and remove its shared-memory segments; returns their pids.
    The prefix holds this process's pid and the gRPC port, so only our own server's stubs match."""
    stubs = []
    for process in psutil.process_iter(["cmdline"]):
        arguments = process.info.get("cmdline") or []
        if process.pid != os.getpid() and any(prefix in argument for argument in arguments):
            stubs.append(process)
    for process in stubs:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(stubs, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    for segment in shm_dir.glob(f"{prefix}*"):
        segment.unlink(missing_ok=True)
    return [process.pid for process in stubs]


def supervise(supervisor: Supervisor, interval_s: float = 0.5) -> None:
    """Check the processes every ``interval_s`` until SIGINT or SIGTERM."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    supervisor.started()
    while not stopping:
        supervisor.check()
        time.sleep(interval_s)


def supervised_service(name: str, service: ServiceProcess) -> Supervised:
    def returncode() -> int | None:
        return None if service.process is None else service.process.poll()

    return Supervised(name, service.start, returncode)


def supervised_triton(triton: TritonServer) -> Supervised:
    prefix = shm_prefix(triton.options)
    return Supervised("tritonserver", triton.start, lambda: triton.returncode, lambda: clean_up_stubs(prefix))


def run(args: argparse.Namespace) -> int:
    logs = Path(args.workdir)
    logs.mkdir(parents=True, exist_ok=True)
    triton = TritonServer(
        ServerOptions(args.repository, args.http_port, args.grpc_port, args.metrics_port, workdir=logs),
        log_file=logs / "tritonserver.log",
    )
    real_papago = bool(os.environ.get("OCRSTACK_PAPAGO_KEY_ID") and os.environ.get("OCRSTACK_PAPAGO_KEY"))
    env = {"OCRSTACK_TRITON_URL": f"127.0.0.1:{args.grpc_port}"}
    services: list[ServiceProcess] = []
    units: list[Supervised] = []
    try:
        units.append(supervised_triton(triton))
        triton.start()
        if not real_papago:
            papago = papago_compatible(args.papago_port, logs / "papago_compatible.log").start()
            services.append(papago)
            units.append(supervised_service("papago-compatible server", papago))
            env.update(local_papago_env(args.papago_port))
        gateway = gateway_process(args.port, env, None, args.host).start()
        services.append(gateway)
        units.append(supervised_service("gateway", gateway))
        print(f"starting Triton (log: {logs / 'tritonserver.log'}) and the gateway...", flush=True)
        triton.wait_until_ready()
        gateway.wait_http(f"http://127.0.0.1:{args.port}/readyz", timeout_s=120)
        translator = (
            "Papago (credentials from the environment)"
            if real_papago
            else (f"the Papago-compatible server on http://127.0.0.1:{args.papago_port}")
        )
        print(
            f"\nready: gateway http://{args.host}:{args.port}  (API docs http://{args.host}:{args.port}/docs)\n"
            f"       Triton HTTP :{args.http_port}  gRPC :{args.grpc_port}  metrics :{args.metrics_port}\n"
            f"       translation through {translator}\n"
            f"try:   curl -F file=@page.png http://{args.host}:{args.port}/translate_image\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        supervise(Supervisor(units))
        return 0
    except (LauncherError, KeyboardInterrupt) as error:
        print(f"stopping: {error}", file=sys.stderr)
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        triton.stop()
        if units:
            units[0].clean_up()  # stubs that hang on exit, and their /dev/shm segments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__.split("\n\n")[0])
    defaults = ServerOptions()
    parser.add_argument("--repository", type=Path, default=defaults.repository)
    parser.add_argument("--host", default="127.0.0.1", help="gateway address")
    parser.add_argument("--port", type=int, default=8080, help="gateway port")
    parser.add_argument("--http-port", type=int, default=defaults.http_port)
    parser.add_argument("--grpc-port", type=int, default=defaults.grpc_port)
    parser.add_argument("--metrics-port", type=int, default=defaults.metrics_port)
    parser.add_argument("--papago-port", type=int, default=8090)
    parser.add_argument("--workdir", type=Path, default=defaults.workdir)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
