"""Real processes on loopback for the gateway tests: the shared Triton server (tests/conftest.py), the
Papago-compatible server in a few set-ups, and gateways wired to them; and a small PNG page."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
import pytest

from devtools.stack import ServiceProcess, gateway_process, local_papago_env
from ocrstack.serving.launcher.server import ServerOptions, free_ports

StartGateway = Callable[..., str]


@pytest.fixture(scope="session")
def services_stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def start_papago(services_stack: ExitStack, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Start a Papago-compatible server with extra flags; returns its base URL."""

    def start(*flags: str) -> str:
        (port,) = free_ports(1)
        log = tmp_path_factory.mktemp("papago") / "server.log"
        args = ["--host", "127.0.0.1", "--port", str(port), *flags]
        server = services_stack.enter_context(ServiceProcess("devtools.papago_server", args, {}, log))
        server.wait_http(f"http://127.0.0.1:{port}/stats", timeout_s=60)
        return f"http://127.0.0.1:{port}"

    return start


@pytest.fixture(scope="session")
def start_gateway(services_stack: ExitStack, tmp_path_factory: pytest.TempPathFactory) -> StartGateway:
    """Start a gateway with environment settings; returns its base URL once it answers /healthz."""

    def start(env: Mapping[str, str]) -> str:
        (port,) = free_ports(1)
        log = tmp_path_factory.mktemp("gateway") / "gateway.log"
        gateway = services_stack.enter_context(gateway_process(port, env, log))
        gateway.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
        return f"http://127.0.0.1:{port}"

    return start


def papago_env(papago_url: str) -> dict[str, str]:
    return local_papago_env(int(papago_url.rsplit(":", 1)[1]))


# Small limits, so that the tests can cross them cheaply.
TEST_LIMITS: dict[str, str] = {
    "OCRSTACK_MAX_BODY_BYTES": str(3_000_000),
    "OCRSTACK_MAX_IMAGE_BYTES": str(2_000_000),
    "OCRSTACK_MAX_IMAGES_PER_CALL": "3",
    "OCRSTACK_URL_FETCH_TIMEOUT_S": "2",
}


@pytest.fixture(scope="session")
def test_limits() -> dict[str, str]:
    return dict(TEST_LIMITS)


@pytest.fixture(scope="session")
def papago_url(start_papago) -> str:
    return start_papago()


@pytest.fixture(scope="session")
def gateway_url(triton: ServerOptions, papago_url: str, start_gateway: StartGateway) -> str:
    """The gateway as ``make run`` wires it (Triton, Papago-compatible server), fetching from loopback
    allowed so that URL inputs can be tested here."""
    env = {
        "OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}",
        "OCRSTACK_URL_FETCH_ALLOW_PRIVATE": "true",
        "OCRSTACK_DEFAULT_SOURCE_LANG": "en",
        **papago_env(papago_url),
        **TEST_LIMITS,
    }
    return start_gateway(env)


@pytest.fixture(scope="session")
def image_server(services_stack: ExitStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A static file server on loopback: (base URL, the folder it serves)."""
    folder = tmp_path_factory.mktemp("served")
    (port,) = free_ports(1)
    args = [str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    (folder / "index.txt").write_text("ok")
    server = services_stack.enter_context(ServiceProcess("http.server", args, {}, folder.parent / "http.log"))
    server.wait_http(f"http://127.0.0.1:{port}/index.txt", timeout_s=30)
    return f"http://127.0.0.1:{port}", folder


@pytest.fixture(scope="session")
def png() -> bytes:
    """A small page with a little dark text on white, for requests whose reading does not matter."""
    image = np.full((32, 64, 3), 255, np.uint8)
    cv2.putText(image, "ab", (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return cv2.imencode(".png", image)[1].tobytes()
