"""Fixtures for the deployment checks: the deployment files as data, and a live stack to compare with.

No Docker engine or cluster runs here, so the files are checked by what they say: against the Compose
specification and the Kubernetes schemas, against the project (models, settings, paths, pins), and
against what the real processes export. ``live_stack`` runs the embedded Triton server (the session's
shared one, tests/conftest.py) and a gateway process wired to it, sends them a few requests so that the
metrics carry samples, and hands over their ``/metrics`` text and Triton's version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from deploy_files import (
    COMPOSE_CPU_FILE,
    COMPOSE_FILE,
    K8S_DIR,
    LiveStack,
    interpolate,
    load_compose_text,
    merge_compose,
    page_png,
)

from devtools.stack import gateway_process
from ocrstack.serving.launcher.server import ServerOptions, free_ports


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose reads it with no variables set (every default applies)."""
    return interpolate(load_compose_text(COMPOSE_FILE.read_text()))


@pytest.fixture(scope="session")
def compose_cpu() -> dict[str, Any]:
    """docker-compose.yml with docker-compose.cpu.yml on top."""
    base = load_compose_text(COMPOSE_FILE.read_text())
    return interpolate(merge_compose(base, load_compose_text(COMPOSE_CPU_FILE.read_text())))


# --- Kubernetes manifests ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


@pytest.fixture(scope="session")
def k8s_resources(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource the kustomization applies, in its order."""
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S_DIR / name).read_text()) if d]
    return docs


# --- the live stack ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_stack(triton: ServerOptions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    (port,) = free_ports(1)
    env = {
        "OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}",
        "OCRSTACK_TRANSLATOR": "none",
        "OCRSTACK_DEFAULT_SOURCE_LANG": "en",
    }
    log = tmp_path_factory.mktemp("deploy_gateway") / "gateway.log"
    base = f"http://127.0.0.1:{port}"
    with gateway_process(port, env, log) as gateway:
        gateway.wait_http(f"{base}/readyz", timeout_s=120)
        png = page_png()
        with httpx.Client(timeout=120) as client:
            ok = client.post(f"{base}/translate_image", files={"file": ("page.png", png, "image/png")})
            assert ok.status_code == 200, ok.text
            empty = client.post(f"{base}/ocr", content=b"", headers={"content-type": "image/png"})
            assert empty.is_client_error
            version = client.get(f"http://127.0.0.1:{triton.http_port}/v2").json()["version"]
            triton_metrics = client.get(f"http://127.0.0.1:{triton.metrics_port}/metrics").text
            gateway_metrics = client.get(f"{base}/metrics").text
        yield LiveStack(version, triton_metrics, gateway_metrics)
