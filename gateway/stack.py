"""``python -m gateway.stack``: the whole service on one machine, what ``make run`` starts.

The embedded Triton server, the gateway, and — unless Papago credentials are in the environment
(``OCRSTACK_PAPAGO_KEY_ID`` / ``OCRSTACK_PAPAGO_KEY``) — the project's Papago-compatible server on
loopback, so that translation works end to end without an account. Ctrl-C (or SIGTERM) stops all three.
:class:`ServiceProcess` is also how the tests start the gateway and the Papago-compatible server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from gateway.translation.papago_compatible_server import DEFAULT_KEY, DEFAULT_KEY_ID
from ocrstack.serving.launcher import LauncherError, ServerOptions, TritonServer


class ServiceProcess:
    """A Python service run as ``python -m MODULE ARGS`` with its output in ``log``; a context manager
    that stops it (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, module: str, args: Sequence[str], env: Mapping[str, str], log: Path | None) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.env, self.log = {**os.environ, **env}, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        output = self.log.open("ab") if self.log else None
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT if output else None
        )
        return self

    def wait_http(self, url: str, timeout_s: float = 60.0) -> None:
        """Until ``url`` answers 200; LauncherError (with the log's tail) if the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise LauncherError(f"{' '.join(self.command[2:4])} exited early:\n{self._log_tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise LauncherError(f"{url} did not answer within {timeout_s:.0f} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def papago_compatible(port: int, log: Path | None) -> ServiceProcess:
    args = ["--host", "127.0.0.1", "--port", str(port), "--key-id", DEFAULT_KEY_ID, "--key", DEFAULT_KEY]
    return ServiceProcess("gateway.translation.papago_compatible_server", args, {}, log)


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


def wait_for_signal() -> None:
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    while not stopping:
        time.sleep(0.2)


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
    try:
        triton.start()
        if not real_papago:
            services.append(papago_compatible(args.papago_port, logs / "papago_compatible.log").start())
            env.update(local_papago_env(args.papago_port))
        gateway = gateway_process(args.port, env, None, args.host).start()
        services.append(gateway)
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
        wait_for_signal()
        return 0
    except (LauncherError, KeyboardInterrupt) as error:
        print(f"stopping: {error}", file=sys.stderr)
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        triton.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.stack", description=__doc__.split("\n\n")[0])
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
