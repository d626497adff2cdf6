"""CPU time by model: stub processes are told apart by the model file they were started with."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from loadtest.process_cpu import SERVER, ServerCpu, StackCpu, cpu_ms_per_item, model_of

# Busy for about half a second of CPU, then waits to be read before it exits.
BURN = (
    "import sys, time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ntime.sleep(30)"
)


def test_model_of_a_stub_command_line() -> None:
    stub = "/opt/backends/python/triton_python_backend_stub"
    assert (
        model_of([stub, "/srv/repo/text_recognition_ch/1/model.onnx", "region", "1"]) == "text_recognition_ch"
    )
    assert model_of([stub, "/srv/repo/crop_recognize/1/model.py"]) == "crop_recognize"
    assert model_of(["/usr/bin/tritonserver", "--model-repository=/srv/repo"]) is None
    assert model_of(["python"]) is None


def test_server_cpu_counts_each_model_stub(tmp_path: Path) -> None:
    model_file = tmp_path / "repo" / "busy_model" / "1" / "model.py"
    model_file.parent.mkdir(parents=True)
    model_file.write_text(BURN)
    # A parent that plays the server: its child is started the way Triton starts a stub.
    parent_code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, {str(model_file)!r}])\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        cpu = ServerCpu(parent.pid)
        before = cpu.seconds()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            spent = cpu_ms_per_item(before, cpu.seconds(), items=1)
            if spent.get("busy_model", 0.0) >= 400:
                break
            time.sleep(0.2)
        assert spent.get("busy_model", 0.0) >= 400, spent
        assert spent.get(SERVER, 0.0) < 400, spent
    finally:
        for child in ServerCpu(parent.pid).server.children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def test_a_stack_of_processes_counts_each_under_its_name() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BURN])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stack = StackCpu(f"gateway={busy.pid}, tritonserver={idle.pid}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and stack.seconds()["gateway"] < 0.4:
            time.sleep(0.2)
        seconds = stack.seconds()
        assert set(seconds) == {"gateway", SERVER}
        assert seconds["gateway"] >= 0.4 and seconds[SERVER] < 0.4
        assert StackCpu("").seconds() == {}
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()
