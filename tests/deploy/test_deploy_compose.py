"""docker-compose.yml (and the CPU override) against the Compose specification and against the project.

Stands in for ``docker compose config`` and a first ``docker compose up``, which need an engine: the
schema is the Compose specification's own (vendored in check-jsonschema), and every name the file uses
(services, paths, settings, models, image versions) is looked up where it is defined.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib
from deploy_files import (
    COMPOSE_CPU_FILE,
    REPO_ROOT,
    LiveStack,
    interpolate,
    load_compose_text,
    load_prepare_repository,
    merge_compose,
)
from jsonschema.validators import validator_for

from devtools.papago_server import DEFAULT_KEY, DEFAULT_KEY_ID
from gateway.settings import DETECTION_MODEL, OCR_MODELS, RECOGNITION_MODEL, Settings

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
TRITON_DOCKERFILE = REPO_ROOT / "docker" / "triton.Dockerfile"


def compose_schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return document["services"]


# --- the specification -------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_cpu_variant_matches_the_compose_specification(compose_cpu: dict[str, Any]) -> None:
    assert schema_errors(compose_cpu) == []


def test_schema_check_fails_on_broken_files(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["depends_on"]["triton"]["condition"] = "service_ready"
    broken["services"]["gateway"]["env_file"] = [{"required": False}]
    broken["services"]["triton"]["shm_sise"] = "1g"
    errors = schema_errors(broken)
    assert any("service_ready" in e for e in errors), errors
    assert any(e.startswith("services/gateway/env_file") for e in errors), errors
    assert any("shm_sise" in e for e in errors), errors


def test_interpolation_and_override_merge_as_compose_does() -> None:
    assert interpolate("${A:-8000}:8000") == "8000:8000"
    assert interpolate("${A:-8000}:8000", {"A": "9000"}) == "9000:8000"
    assert interpolate({"x": ["${B}"]}) == {"x": [""]}
    base = load_compose_text("s:\n  image: a\n  deploy: {replicas: 2}\n  environment: {A: '1'}\n")
    over = load_compose_text("s:\n  deploy: !reset {}\n  environment: {B: '2'}\n")
    assert merge_compose(base, over) == {"s": {"image": "a", "environment": {"A": "1", "B": "2"}}}


# --- services the issue asks for ---------------------------------------------------------------------


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    profiles = {name: tuple(s.get("profiles", ())) for name, s in services(compose).items()}
    assert profiles == {
        "models": (),
        "triton": (),
        "gateway": (),
        "papago-compatible": ("dev",),
        "prometheus": ("monitoring",),
        "grafana": ("monitoring",),
        "locust": ("loadtest",),
        "engines": ("tensorrt",),
    }


def test_triton_serves_the_prepared_repository_on_gpus(compose: dict[str, Any]) -> None:
    triton, models = services(compose)["triton"], services(compose)["models"]
    assert triton["depends_on"] == {"models": {"condition": "service_completed_successfully"}}
    assert "triton-repository:/models:ro" in triton["volumes"]
    assert "triton-repository:/models" in models["volumes"]
    assert "./model_repository:/workspace/model_repository:ro" in models["volumes"]
    assert "--model-repository=/models" in triton["command"]
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert triton["shm_size"] == "1g"
    test = " ".join(triton["healthcheck"]["test"])
    assert "http://localhost:8000/v2/health/ready" in test
    assert {p.split(":")[-1] for p in triton["ports"]} == {"8000", "8001", "8002"}


def test_gateway_waits_for_triton_and_reports_readiness(compose: dict[str, Any]) -> None:
    gateway = services(compose)["gateway"]
    assert gateway["depends_on"] == {"triton": {"condition": "service_healthy"}}
    assert "http://127.0.0.1:8080/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["build"]["dockerfile"] == "docker/gateway.Dockerfile"
    host, port = gateway["environment"]["OCRSTACK_TRITON_URL"].split(":")
    assert host == "triton" and port in {p.split(":")[-1] for p in services(compose)["triton"]["ports"]}


def test_cpu_variant_only_drops_the_gpu_reservation(
    compose: dict[str, Any], compose_cpu: dict[str, Any]
) -> None:
    assert "deploy" not in services(compose_cpu)["triton"]
    assert services(compose_cpu)["models"]["environment"]["OCRSTACK_TRITON_ENGINE"] == "cpu"
    assert services(compose)["models"]["environment"]["OCRSTACK_TRITON_ENGINE"] == "onnxruntime"
    for name, service in services(compose).items():
        cpu = services(compose_cpu)[name]
        if name == "triton":
            assert {k: v for k, v in service.items() if k != "deploy"} == cpu
        elif name != "models":
            assert service == cpu, name
    assert "!reset" in COMPOSE_CPU_FILE.read_text()


def test_engine_setting_names_a_prepare_step_engine(compose: dict[str, Any]) -> None:
    engines = load_prepare_repository().ENGINES
    assert services(compose)["models"]["environment"]["OCRSTACK_TRITON_ENGINE"] in engines
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    default = re.search(r"OCRSTACK_TRITON_ENGINE:-([\w-]+)", text)
    assert default and default[1] in engines


# --- paths ---------------------------------------------------------------------------------------------

# Bind-mount sources that the stack itself writes (build-engines' output), not the repository.
WRITTEN_BY_THE_STACK = {"./build/engines"}


def bind_mounts(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, service in services(document).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                found.append((name, source, volume))
    return found


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    mounts = bind_mounts(compose)
    assert mounts
    for service, source, _ in mounts:
        if source not in WRITTEN_BY_THE_STACK:
            assert (REPO_ROOT / source).exists(), f"{service} mounts {source}, which is not in the repository"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    used = {
        v.split(":")[0]
        for s in services(compose).values()
        for v in s.get("volumes", [])
        if not v.startswith((".", "/"))
    }
    assert used == set(compose["volumes"])


def test_build_contexts_and_dockerfiles_exist(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if "build" in service:
            context = REPO_ROOT / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_monitoring_mounts_match_the_provisioning(compose: dict[str, Any]) -> None:
    prometheus, grafana = services(compose)["prometheus"], services(compose)["grafana"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO_ROOT / "deploy/grafana/dashboards" / Path(home).name).is_file()


# --- settings and secrets ------------------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def settings_field(variable: str) -> str:
    assert variable.startswith("OCRSTACK_"), variable
    return variable.removeprefix("OCRSTACK_").lower()


def assert_gateway_settings(variables: dict[str, str]) -> None:
    """Every variable is a Settings field (a typo would be ignored silently: extra="ignore"), and the
    values parse."""
    unknown = {v for v in variables if settings_field(v) not in Settings.model_fields}
    assert not unknown, f"not gateway settings: {unknown}"
    # The values are the environment's strings, for pydantic to parse into each field's type.
    fields: dict[str, Any] = {settings_field(k): v for k, v in variables.items() if v != ""}
    Settings(**fields)


def test_gateway_environment_names_real_settings(compose: dict[str, Any]) -> None:
    assert_gateway_settings(services(compose)["gateway"]["environment"])
    for example in ("papago.env.example", "papago-dev.env"):
        assert_gateway_settings(env_file(REPO_ROOT / "deploy" / "compose" / example))


def test_papago_credentials_come_from_an_uncommitted_file(compose: dict[str, Any]) -> None:
    gateway = services(compose)["gateway"]
    assert not any("PAPAGO_KEY" in k for k in gateway["environment"]), "credentials belong in the env file"
    (entry,) = gateway["env_file"]
    assert entry == {"path": "deploy/compose/papago.env", "required": False}
    ignored = subprocess.run(["git", "check-ignore", "-q", entry["path"]], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0, f"{entry['path']} must be git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", entry["path"]], cwd=REPO_ROOT, capture_output=True, check=False
    )
    assert tracked.returncode != 0, f"{entry['path']} is committed"
    example = env_file(REPO_ROOT / "deploy" / "compose" / "papago.env.example")
    assert example["OCRSTACK_PAPAGO_KEY_ID"] == example["OCRSTACK_PAPAGO_KEY"] == ""


def test_dev_profile_reaches_the_papago_compatible_server(compose: dict[str, Any]) -> None:
    dev = env_file(REPO_ROOT / "deploy" / "compose" / "papago-dev.env")
    assert (dev["OCRSTACK_PAPAGO_KEY_ID"], dev["OCRSTACK_PAPAGO_KEY"]) == (DEFAULT_KEY_ID, DEFAULT_KEY)
    server = services(compose)["papago-compatible"]
    port = server["command"][server["command"].index("--port") + 1]
    assert dev["OCRSTACK_PAPAGO_ENDPOINT"] == f"http://papago-compatible:{port}/nmt/v1/translation"


# --- models, images and versions -----------------------------------------------------------------------


def test_every_model_the_gateway_names_exists() -> None:
    for model in (*OCR_MODELS.values(), DETECTION_MODEL, RECOGNITION_MODEL):
        assert (REPO_ROOT / "model_repository" / model / "config.pbtxt").is_file(), model


def test_third_party_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if "build" not in service:
            image = service["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest", f"{name}: {image} is not pinned"


def ngc_release(triton_version: str) -> str:
    """The NGC container month of a Triton server version: 2.42 shipped as 24.01, one release a month."""
    minor = int(triton_version.split(".")[1])
    months = minor - 42 + 24 * 12  # months since year 0 of the yy.mm scheme, 24.01 being 2.42
    return f"{months // 12:02d}.{months % 12 + 1:02d}"


def test_ngc_release_mapping() -> None:
    assert ngc_release("2.42.0") == "24.01"
    assert ngc_release("2.51.0") == "24.10"
    assert ngc_release("2.53.0") == "24.12"
    assert ngc_release("2.54.0") == "25.01"


def test_triton_image_matches_the_embedded_server(live_stack: LiveStack, compose: dict[str, Any]) -> None:
    """The container runs the Triton version the embedded server (nvidia-pytriton's binary) reports."""
    release = ngc_release(live_stack.triton_version)
    base = re.search(r"^FROM\s+(\S+)", TRITON_DOCKERFILE.read_text(), re.MULTILINE)
    assert base and base[1] == f"nvcr.io/nvidia/tritonserver:{release}-py3"
    # The TensorRT container that builds plans must carry the TensorRT of the same month.
    assert services(compose)["engines"]["image"] == f"nvcr.io/nvidia/tensorrt:{release}-py3"


def test_locust_runs_the_project_pin_against_the_gateway(compose: dict[str, Any]) -> None:
    locust = services(compose)["locust"]
    dependencies = "\n".join(PYPROJECT["project"]["optional-dependencies"]["bench"])
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)$", dependencies, re.MULTILINE))
    assert locust["image"] == f"locustio/locust:{pins['locust']}"
    command = locust["command"]
    assert command[command.index("-f") + 1] == "/mnt/loadtest/locustfile.py"
    assert "./loadtest:/mnt/loadtest:ro" in locust["volumes"]
    assert command[command.index("--host") + 1] == "http://gateway:8080"
    assert locust["depends_on"] == {"gateway": {"condition": "service_healthy"}}
