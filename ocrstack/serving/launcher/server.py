"""Start the embedded Triton server: the ``tritonserver`` binary shipped in the nvidia-pytriton wheel.

That wheel has the python backend and a backend stub per Python version but no onnxruntime backend. The
launcher prepares a backend folder (python backend + the stub for the running interpreter + our
Python-based ``onnxruntime`` backend), sets the library path and the path the stub takes its ``python3``
from, starts the server on the given ports, waits until every model is ready, and stops it cleanly.

    python -m ocrstack.serving.launcher serve [--repository model_repository] [--http-port 8000] ...
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ocrstack.serving.launcher.process import ManagedProcess
from ocrstack.serving.repository import model_names

# The whole Python-based backend file: Triton looks for TritonPythonModel in <backend>/model.py.
ONNXRUNTIME_BACKEND_SOURCE = (
    "from ocrstack.serving.ort_backend.model import TritonPythonModel  # noqa: F401\n"
)


class LauncherError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerOptions:
    repository: Path = Path("model_repository")
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    workdir: Path = Path("build/triton")  # the prepared backend folder lives here
    # Python models exchange whole images through shared memory; start at 64 MiB and grow by 64 MiB.
    shm_default_bytes: int = 64 << 20
    shm_growth_bytes: int = 64 << 20
    log_verbose: int = 0
    ready_timeout_s: float = 600.0
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def tritonserver_home() -> Path:
    """The ``tritonserver`` folder inside the installed nvidia-pytriton wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError("nvidia-pytriton is not installed (make setup installs it)")
    home = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    if not (home / "bin" / "tritonserver").exists():
        raise LauncherError(f"no tritonserver binary under {home}")
    return home


def wheel_libraries() -> Path:
    """The shared libraries the wheel's binary links against (``nvidia_pytriton.libs``)."""
    home = tritonserver_home()
    libs = home.parent.parent / "nvidia_pytriton.libs"
    if not libs.is_dir():
        raise LauncherError(f"{libs} is missing: the nvidia-pytriton install is incomplete")
    return libs


def prepare_backends(workdir: Path) -> Path:
    """Build ``<workdir>/backends`` afresh: python backend, this interpreter's stub, onnxruntime."""
    home = tritonserver_home()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = home / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise LauncherError(f"the wheel has no python backend stub for Python {version}")
    backends = workdir / "backends"
    if backends.exists():
        shutil.rmtree(backends)
    shutil.copytree(home / "backends" / "python", backends / "python")
    shutil.copy2(stub, backends / "python" / stub.name)
    onnxruntime = backends / "onnxruntime"
    onnxruntime.mkdir(parents=True)
    (onnxruntime / "model.py").write_text(ONNXRUNTIME_BACKEND_SOURCE)
    return backends


def server_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stub runs the first ``python3`` on PATH: ours must come first so that Python models import
    this project's packages and the numpy version the stub was built for."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    libraries = [str(wheel_libraries()), env.get("LD_LIBRARY_PATH", "")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in libraries if p)
    for name, value in MALLOC_SETTINGS.items():
        env.setdefault(name, value)
    return env


# glibc malloc for the server and its stubs, unless the environment says otherwise: two arenas instead of
# eight per core (Triton and ONNX Runtime run many threads, each of which would keep its own arena's
# free memory), and a fixed trim threshold, which also fixes the mmap threshold at 128 KiB: without it
# glibc raises that threshold to 32 MiB once a large block is freed, and image-sized arrays are then
# carved from the heap, which does not shrink (docs/memory.md).
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": str(128 << 10)}


def server_command(options: ServerOptions, backends: Path) -> list[str]:
    # A per-process prefix keeps two servers on one machine (tests beside `make run`) from sharing
    # shared-memory regions.
    prefix = f"ocrstack{os.getpid()}_{options.grpc_port}_"
    python_config = [
        f"python,shm-default-byte-size={options.shm_default_bytes}",
        f"python,shm-growth-byte-size={options.shm_growth_bytes}",
        f"python,shm-region-prefix-name={prefix}",
    ]
    return [
        str(tritonserver_home() / "bin" / "tritonserver"),
        f"--model-repository={options.repository.resolve()}",
        f"--backend-directory={backends.resolve()}",
        f"--http-port={options.http_port}",
        f"--grpc-port={options.grpc_port}",
        f"--metrics-port={options.metrics_port}",
        f"--log-verbose={options.log_verbose}",
        *(f"--backend-config={c}" for c in python_config),
        *options.extra_args,
    ]


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (all held open together while choosing)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class TritonServer(ManagedProcess):
    """A running embedded Triton server; a context manager that stops it on exit (SIGTERM: Triton unloads
    its models and exits)."""

    def __init__(self, options: ServerOptions, log_file: Path | None = None) -> None:
        super().__init__(log_file)
        self.options = options

    def launch(self) -> tuple[list[str], dict[str, str] | None]:
        return server_command(self.options, prepare_backends(self.options.workdir)), server_environment()

    def wait_until_ready(self, models: list[str] | None = None) -> None:
        """Block until the server and ``models`` (default: every model in the repository) are ready."""
        models = sorted(model_names(self.options.repository)) if models is None else models
        urls = [f"{self.options.http_url}/v2/health/ready"] + [
            f"{self.options.http_url}/v2/models/{name}/ready" for name in models
        ]
        deadline = time.monotonic() + self.options.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise LauncherError(f"tritonserver exited with status {self.returncode} before it was ready")
            if all(_http_ok(url) for url in urls):
                return
            time.sleep(0.5)
        raise LauncherError(f"models not ready after {self.options.ready_timeout_s:.0f} s: {models}")


def serve(options: ServerOptions) -> int:
    """Run until the server exits or this process gets SIGINT/SIGTERM; returns the exit status."""
    server = TritonServer(options).start()
    stopping = ready = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if not ready:  # still loading: leave the wait at once
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.wait_until_ready()
        ready = True
        print(
            f"Triton ready: HTTP {options.http_url}  gRPC 127.0.0.1:{options.grpc_port}  "
            f"metrics http://127.0.0.1:{options.metrics_port}/metrics  "
            f"models: {', '.join(sorted(model_names(options.repository)))}",
            flush=True,
        )
        while not stopping and server.returncode is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        status = server.stop()
    return 0 if stopping else (status or 0)
