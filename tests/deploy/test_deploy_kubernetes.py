"""deploy/k8s against the Kubernetes schemas of a pinned version, and against itself and the project.

Stands in for ``kubectl apply --dry-run=server``: each resource is validated by kubernetes-validate (the
schemas of Kubernetes 1.31, strict: unknown fields are errors), then the references between resources
(selectors, ports, ConfigMaps, the autoscaler's custom metric) and into the project (settings, models,
the prepare step's engines) are followed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest
import tomllib
import yaml
from deploy_files import K8S_DIR, REPO_ROOT, find_resource, load_prepare_repository

from gateway.settings import Settings

KUBERNETES_VERSION = "1.31.0"
PROJECT_VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
ADAPTER_VALUES = K8S_DIR / "prometheus-adapter" / "values.yaml"
TRITON_LABELS = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/part-of": "ocrstack"}
GATEWAY_LABELS = {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/part-of": "ocrstack"}


def schema_errors(resource: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [str(error).splitlines()[0]]
    return []


def resource_id(resource: dict[str, Any]) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


def all_manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize("resource", all_manifests(), ids=resource_id)
def test_resource_matches_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    assert schema_errors(resource) == []


def test_schema_check_fails_on_broken_resources(k8s_resources: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(find_resource(k8s_resources, "Deployment", "gateway"))
    deployment["spec"]["replicaz"] = 2
    assert any("replicaz" in e for e in schema_errors(deployment))
    hpa = copy.deepcopy(find_resource(k8s_resources, "HorizontalPodAutoscaler", "triton"))
    hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] = {"ms": 20}
    assert schema_errors(hpa)


def test_kustomization_lists_every_manifest_and_the_project_images(
    kustomization: dict[str, Any], k8s_resources: list[dict[str, Any]]
) -> None:
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    images = {i["name"]: i for i in kustomization["images"]}
    assert set(images) == {"ocrstack-triton", "ocrstack-models", "ocrstack-gateway"}
    assert {i["newTag"] for i in images.values()} == {PROJECT_VERSION}
    pods = [r["spec"]["template"]["spec"] for r in k8s_resources if r["kind"] == "Deployment"]
    used = {c["image"] for pod in pods for c in pod.get("initContainers", []) + pod["containers"]}
    assert used == set(images)
    # The images named here are the ones the Dockerfiles build.
    for image in images:
        assert (REPO_ROOT / "docker" / f"{image.removeprefix('ocrstack-')}.Dockerfile").is_file()


def pod_spec(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find_resource(resources, "Deployment", name)["spec"]["template"]["spec"]


def container_ports(resources: list[dict[str, Any]], name: str) -> dict[str, int]:
    (container,) = pod_spec(resources, name)["containers"]
    return {p["name"]: p["containerPort"] for p in container["ports"]}


@pytest.mark.parametrize(("name", "labels"), [("triton", TRITON_LABELS), ("gateway", GATEWAY_LABELS)])
def test_services_select_the_pods_and_name_their_ports(
    k8s_resources: list[dict[str, Any]], name: str, labels: dict[str, str]
) -> None:
    deployment = find_resource(k8s_resources, "Deployment", name)
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service = find_resource(k8s_resources, "Service", name)
    assert service["spec"]["selector"] == labels
    ports = container_ports(k8s_resources, name)
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in ports, f"{name}: targetPort {port['targetPort']}"


def probe_paths(container: dict[str, Any]) -> dict[str, str]:
    return {k: v["httpGet"]["path"] for k, v in container.items() if k.endswith("Probe")}


def test_triton_runs_on_a_gpu_node_with_probes_and_the_prepared_repository(
    k8s_resources: list[dict[str, Any]],
) -> None:
    spec = pod_spec(k8s_resources, "triton")
    (triton,) = spec["containers"]
    assert probe_paths(triton) == {
        "startupProbe": "/v2/health/live",
        "livenessProbe": "/v2/health/live",
        "readinessProbe": "/v2/health/ready",
    }
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "--model-repository=/models" in triton["args"]
    mounts = {m["name"]: m for m in triton["volumeMounts"]}
    assert mounts["models"]["readOnly"] is True and mounts["dshm"]["mountPath"] == "/dev/shm"
    (init,) = spec["initContainers"]
    assert init["command"][:3] == ["python", "deploy/prepare_repository.py", "prepare"]
    assert "--out=/models" in init["command"]
    assert {m["name"] for m in init["volumeMounts"]} == {"models"}
    assert init["envFrom"] == [{"configMapRef": {"name": "triton-config"}}]


def test_triton_engine_setting_is_one_the_init_container_can_prepare(
    k8s_resources: list[dict[str, Any]],
) -> None:
    engines = load_prepare_repository().ENGINES
    data = find_resource(k8s_resources, "ConfigMap", "triton-config")["data"]
    # tensorrt plans need trtexec, which the models image does not have (docs/deploy.md).
    assert data["OCRSTACK_TRITON_ENGINE"] in set(engines) - {"tensorrt"}
    assert int(data["OCRSTACK_GPU_INSTANCES"]) >= 1


def test_gateway_settings_come_from_the_configmap_and_the_secret(k8s_resources: list[dict[str, Any]]) -> None:
    (gateway,) = pod_spec(k8s_resources, "gateway")["containers"]
    assert probe_paths(gateway) == {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    assert gateway["envFrom"] == [
        {"configMapRef": {"name": "gateway-config"}},
        {"secretRef": {"name": "papago-credentials", "optional": True}},
    ]
    assert container_ports(k8s_resources, "gateway") == {"http": 8080}
    data = find_resource(k8s_resources, "ConfigMap", "gateway-config")["data"]
    fields = {k.removeprefix("OCRSTACK_").lower(): v for k, v in data.items()}
    assert all(k.startswith("OCRSTACK_") for k in data)
    assert set(fields) <= set(Settings.model_fields), set(fields) - set(Settings.model_fields)
    assert not {f for f in fields if "key" in f}, "credentials belong in the Secret"
    settings = Settings(**fields)
    host, port = settings.triton_url.split(":")
    service = find_resource(k8s_resources, "Service", host)
    assert int(port) in {p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"}
    # No Secret with data is committed: it is made from the uncommitted env file (docs/deploy.md).
    assert not [r for r in all_manifests() if r["kind"] == "Secret"]


def test_gateway_runs_as_non_root(k8s_resources: list[dict[str, Any]]) -> None:
    spec = pod_spec(k8s_resources, "gateway")
    assert spec["securityContext"]["runAsNonRoot"] is True
    (gateway,) = spec["containers"]
    assert gateway["securityContext"]["allowPrivilegeEscalation"] is False


def test_autoscalers_target_the_deployments(k8s_resources: list[dict[str, Any]]) -> None:
    gateway = find_resource(k8s_resources, "HorizontalPodAutoscaler", "gateway")
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert gateway["spec"]["scaleTargetRef"] == target
    assert gateway["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    (container,) = pod_spec(k8s_resources, "gateway")["containers"]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
    triton = find_resource(k8s_resources, "HorizontalPodAutoscaler", "triton")
    assert triton["spec"]["scaleTargetRef"]["name"] == "triton"
    assert triton["spec"]["metrics"][0]["type"] == "Pods"


def adapter_rules() -> list[dict[str, Any]]:
    return yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]


def test_triton_autoscaler_reads_the_metric_the_adapter_serves(k8s_resources: list[dict[str, Any]]) -> None:
    hpa = find_resource(k8s_resources, "HorizontalPodAutoscaler", "triton")
    wanted = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    served = {rule["name"]["as"] for rule in adapter_rules()}
    assert wanted in served
    for rule in adapter_rules():
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
        assert "<<.LabelMatchers>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]


def test_models_the_adapter_names_exist() -> None:
    served = {p.parent.name for p in (REPO_ROOT / "model_repository").glob("*/config.pbtxt")}
    for rule in adapter_rules():
        for pattern in re.findall(r'model=~"([^"]+)"', rule["metricsQuery"]):
            for alternative in pattern.split("|"):
                assert any(re.fullmatch(alternative, m) for m in served), alternative
            matched = {m for m in served if re.fullmatch(pattern, m)}
            configs = {m: (REPO_ROOT / "model_repository" / m / "config.pbtxt").read_text() for m in served}
            onnx = {m for m, text in configs.items() if 'backend: "onnxruntime"' in text}
            assert matched == onnx, "queue time is averaged over exactly the ONNX models"


def test_disruption_budgets_select_the_pods(k8s_resources: list[dict[str, Any]]) -> None:
    for name, labels in (("triton", TRITON_LABELS), ("gateway", GATEWAY_LABELS)):
        budget = find_resource(k8s_resources, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"]["matchLabels"] == labels
    assert find_resource(k8s_resources, "PodDisruptionBudget", "gateway")["spec"]["minAvailable"] >= 1


def test_only_the_gateway_reaches_triton(k8s_resources: list[dict[str, Any]]) -> None:
    policy = find_resource(k8s_resources, "NetworkPolicy", "triton-ingress")
    assert policy["spec"]["podSelector"]["matchLabels"] == TRITON_LABELS
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = container_ports(k8s_resources, "triton")
    inference = {ports["grpc"], ports["http"]}
    for rule in policy["spec"]["ingress"]:
        allowed = {p["port"] for p in rule["ports"]}
        sources = rule["from"]
        if allowed & inference:
            assert sources == [{"podSelector": {"matchLabels": GATEWAY_LABELS}}]
        else:
            assert allowed == {ports["metrics"]}, "others may reach the metrics port only"
            assert all("podSelector" not in s or s["podSelector"] != {} for s in sources)
    assert any({p["port"] for p in r["ports"]} >= {ports["grpc"]} for r in policy["spec"]["ingress"])


def test_pods_are_scraped_where_the_metrics_are(k8s_resources: list[dict[str, Any]]) -> None:
    for name, port_name in (("triton", "metrics"), ("gateway", "http")):
        template = find_resource(k8s_resources, "Deployment", name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == container_ports(k8s_resources, name)[port_name]
        assert annotations["prometheus.io/path"] == "/metrics"


def test_the_manifests_are_where_the_docs_say() -> None:
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert "kubectl apply -k deploy/k8s" in docs
    assert "deploy/k8s/prometheus-adapter/values.yaml" in docs
