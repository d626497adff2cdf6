"""Finding 2 of issue 20: the embedded stack restarts what exits, with backoff, and cleans up after a
Triton that died (its python backend stubs and their /dev/shm segments)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from devtools.stack import ServiceProcess, Supervised, Supervisor, clean_up_stubs, supervised_service
from ocrstack.serving.launcher.server import free_ports


class FakeProcess:
    def __init__(self) -> None:
        self.code: int | None = None
        self.starts = 0
        self.cleanups = 0

    def unit(self) -> Supervised:
        return Supervised("fake", self.start, lambda: self.code, self.clean_up)

    def start(self) -> None:
        self.starts += 1
        self.code = None

    def clean_up(self) -> None:
        self.cleanups += 1


def test_restarts_with_doubling_backoff_reset_once_stable() -> None:
    now = [0.0]
    fake = FakeProcess()
    said: list[str] = []
    supervisor = Supervisor(
        [fake.unit()], first_s=1, max_s=4, stable_s=60, clock=lambda: now[0], say=said.append
    )
    supervisor.started()
    delays = []
    for _ in range(4):
        fake.code = 1  # it dies at once after each start
        supervisor.check()
        restart_at = supervisor.units[0].restart_at
        assert restart_at is not None
        delays.append(restart_at - now[0])
        now[0] = restart_at - 0.1
        supervisor.check()
        assert fake.starts == len(delays) - 1  # not before its time
        now[0] = restart_at
        supervisor.check()
    assert delays == [1, 2, 4, 4] and fake.starts == 4 and fake.cleanups == 4
    now[0] += 61  # ran for a minute: the next exit is restarted after first_s again
    supervisor.check()
    fake.code = 1
    supervisor.check()
    assert supervisor.units[0].restart_at == now[0] + 1
    assert "exited with status 1" in said[0]


def test_a_start_that_fails_is_retried() -> None:
    now = [0.0]
    attempts = []

    def start() -> None:
        attempts.append(now[0])
        if len(attempts) < 2:
            raise OSError("port in use")

    codes: list[int | None] = [1]
    unit = Supervised("flaky", start, lambda: codes[-1])
    supervisor = Supervisor([unit], first_s=1, clock=lambda: now[0], say=lambda _: None)
    supervisor.check()  # exited: restart at 1
    codes.append(None)
    for t in (1.0, 2.0, 3.0):
        now[0] = t
        supervisor.check()
    assert attempts == [1.0, 3.0]  # failed at 1, retried 2 s later


def test_clean_up_stops_stubs_and_removes_their_segments(tmp_path: Path) -> None:
    prefix = f"ocrstacktest{time.monotonic_ns()}_8001_"
    sleeper = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
    ]
    stub = subprocess.Popen([*sleeper, f"{prefix}1"])  # ignores SIGTERM, like a stub hung on a lock
    bystander = subprocess.Popen([*sleeper, "ocrstackother_8001_1"])
    (tmp_path / f"{prefix}1").write_bytes(b"x")
    (tmp_path / "ocrstackother_8001_1").write_bytes(b"x")
    try:
        time.sleep(0.5)  # let both processes exist with their arguments
        began = time.monotonic()
        assert clean_up_stubs(prefix, tmp_path, grace_s=1.0) == [stub.pid]
        assert time.monotonic() - began >= 1.0  # SIGTERM ignored: killed after the grace period
        stub.wait(5)
        assert not psutil.pid_exists(stub.pid)
        assert bystander.poll() is None
        assert [p.name for p in tmp_path.iterdir()] == ["ocrstackother_8001_1"]
    finally:
        for process in (stub, bystander):
            process.kill()
            process.wait()


def test_a_service_that_dies_answers_again(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    server = ServiceProcess(
        "http.server", [str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)], {}, None
    )
    (tmp_path / "ok.txt").write_text("ok")
    url = f"http://127.0.0.1:{port}/ok.txt"
    with server:
        server.wait_http(url, timeout_s=30)
        supervisor = Supervisor([supervised_service("http", server)], first_s=0.2, say=lambda _: None)
        supervisor.started()
        assert server.process is not None
        server.process.kill()
        deadline = time.monotonic() + 20
        answered = False
        while time.monotonic() < deadline and not answered:
            supervisor.check()
            try:
                answered = httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answered
