"""A real embedded Triton server on free loopback ports, serving the freshly exported repository."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ocrstack.serving.launcher import ServerOptions, TritonServer, free_ports


@contextmanager
def serve_repository(repository: Path, workdir: Path) -> Iterator[ServerOptions]:
    """The embedded server on ``repository`` at free loopback ports, until the block ends; its log is
    printed when it fails to come up."""
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository, http, grpc, metrics, workdir=workdir, ready_timeout_s=300)
    log = workdir / "tritonserver.log"
    with TritonServer(options, log_file=log) as server:
        try:
            server.wait_until_ready()
        except Exception:
            print(log.read_text()[-5000:])
            raise
        yield options


@pytest.fixture(scope="session")
def launch_triton():
    """``serve_repository`` for tests that serve a repository of their own."""
    return serve_repository


@pytest.fixture(scope="session")
def triton(exported_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    with serve_repository(exported_repository, tmp_path_factory.mktemp("triton")) as options:
        yield options
