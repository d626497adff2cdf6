"""The launcher's preparation of the embedded server, without starting it (the serving tests do)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ocrstack.serving.launcher.server import (
    ONNXRUNTIME_BACKEND_SOURCE,
    ServerOptions,
    free_ports,
    prepare_backends,
    server_command,
    server_environment,
)


def test_backend_folder_has_python_stub_and_onnxruntime(tmp_path: Path) -> None:
    backends = prepare_backends(tmp_path)
    assert (backends / "python" / "libtriton_python.so").exists()
    assert os.access(backends / "python" / "triton_python_backend_stub", os.X_OK)
    assert (backends / "onnxruntime" / "model.py").read_text() == ONNXRUNTIME_BACKEND_SOURCE
    (backends / "stale").mkdir()
    assert not (prepare_backends(tmp_path) / "stale").exists()  # rebuilt afresh


def test_environment_sets_malloc_unless_given() -> None:
    env = server_environment({"PATH": "/usr/bin", "MALLOC_ARENA_MAX": "4"})
    assert env["MALLOC_ARENA_MAX"] == "4"
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(128 << 10)


def test_environment_puts_this_interpreter_first() -> None:
    env = server_environment({"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    libraries = env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert libraries[0].endswith("nvidia_pytriton.libs") and libraries[-1] == "/opt/lib"


def test_command_carries_ports_and_shared_memory(tmp_path: Path) -> None:
    options = ServerOptions(tmp_path / "repo", 1, 2, 3, workdir=tmp_path)
    command = server_command(options, tmp_path / "backends")
    assert command[0].endswith("tritonserver")
    assert {"--http-port=1", "--grpc-port=2", "--metrics-port=3"} <= set(command)
    assert any(c.startswith("--backend-config=python,shm-region-prefix-name=") for c in command)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5 and all(p > 0 for p in ports)
