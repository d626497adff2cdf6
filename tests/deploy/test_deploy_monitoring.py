"""Prometheus' config, Grafana's provisioning and dashboard, and the metrics their queries name.

The queries are checked against what the real processes export: the embedded Triton server (the same
2.51 server as the container) and the gateway, each scraped after real requests (``live_stack``). Triton
exports its GPU metrics only where it sees a GPU, which the test machines do not have; those few names are
checked against the server library itself instead (its metric names are string constants in it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_files import REPO_ROOT, LiveStack

PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "ocrstack.json"
DATASOURCES = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "ocrstack.yml"
ADAPTER_VALUES = REPO_ROOT / "deploy" / "k8s" / "prometheus-adapter" / "values.yaml"
# Exported per GPU by Triton's metrics (DCGM); absent where Triton sees no GPU.
GPU_METRICS = {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes"}


# --- promtool -------------------------------------------------------------------------------------------


def promtool() -> str | None:
    """promtool on PATH, or the one `make test` takes out of Debian's prometheus package."""
    local = REPO_ROOT / "build" / "tools" / "promtool"
    return shutil.which("promtool") or (str(local) if local.is_file() else None)


@pytest.fixture(scope="module")
def promtool_path() -> str:
    found = promtool()
    if found is None:
        message = "promtool is missing: `make test` installs it into build/tools"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_prometheus_config_passes_promtool(promtool_path: str) -> None:
    command = [promtool_path, "check", "config", str(PROMETHEUS_CONFIG)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_config(promtool_path: str, tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    broken.write_text(PROMETHEUS_CONFIG.read_text().replace("scrape_interval: 10s", "scrape_interval: ten"))
    result = subprocess.run([promtool_path, "check", "config", str(broken)], capture_output=True, check=False)
    assert result.returncode != 0


def test_prometheus_scrapes_the_compose_services(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        job["job_name"]: (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    services = compose["services"]
    path, target = targets["triton"]
    assert target == "triton:8002" and "8002" in {p.split(":")[-1] for p in services["triton"]["ports"]}
    path, target = targets["gateway"]
    assert (path, target) == ("/metrics", "gateway:8080")


# --- Grafana ----------------------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_dashboard_uses_the_provisioned_data_source() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    uids = {
        t["datasource"]["uid"]
        for p in dashboard()["panels"]
        if p["type"] != "row"
        for t in [p, *p["targets"]]
    }
    assert uids == {source["uid"]}
    (provider,) = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_panels_are_distinct_and_laid_out() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
    assert all(t["expr"].strip() for p in panels if p["type"] != "row" for t in p["targets"])


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    text = " ".join(expr for _, expr in queries())
    for needle in (
        "ocrstack_gateway_requests_total",  # request rate
        "histogram_quantile(0.95, sum by (le) (rate(ocrstack_gateway_request_seconds_bucket",  # latency
        'status=~"5.."',  # error rate
        "rate(nv_inference_count",  # average executed batch size: inferences ...
        "rate(nv_inference_exec_count",  # ... per execution
        "nv_inference_queue_duration_us",  # queue time per model
        "nv_gpu_utilization",
        "nv_gpu_memory_used_bytes",
    ):
        assert needle in text, needle


# --- metric names in PromQL --------------------------------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"\{([^}]*)\}")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:]|\s*\()")


def strip_templates(expr: str) -> str:
    """Grafana variables and the Prometheus adapter's Go templates, as Prometheus would see them."""
    expr = expr.replace("<<.LabelMatchers>>", 'namespace="ocrstack",pod="triton-0"')
    expr = expr.replace("<<.GroupBy>>", "pod")
    return re.sub(r"\$\{?\w+\}?", "5m", expr)


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched in its braces) for every metric a query reads."""
    expr = strip_templates(expr)
    expr = _GROUPING.sub(" ", expr)
    found, labels_at = [], {}
    for match in _SELECTOR.finditer(expr):
        labels_at[match.start()] = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", match[1]))
    without_braces = _SELECTOR.sub(lambda m: " " * len(m[0]), expr)
    without_ranges = re.sub(r"\[[^\]]*\]", lambda m: " " * len(m[0]), without_braces)
    for match in _IDENTIFIER.finditer(without_ranges):
        name = match[1]
        if name in KEYWORDS:
            continue
        after = expr[match.end() :]
        brace = match.end() + (len(after) - len(after.lstrip()))
        found.append((name, labels_at.get(brace, set())))
    return found


def grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for _, labels in _GROUPING.findall(strip_templates(expr))
        for label in labels.split(",")
        if label.strip()
    }


def test_promql_reading_finds_metrics_and_labels() -> None:
    expr = (
        'sum by (model) (rate(nv_inference_queue_duration_us{model=~"a|b"}[$__rate_interval])) '
        "/ clamp_min(sum by (model) (rate(nv_inference_request_success[5m])), 1e-9) / 1e6"
    )
    assert selectors(expr) == [
        ("nv_inference_queue_duration_us", {"model"}),
        ("nv_inference_request_success", set()),
    ]
    assert grouping_labels(expr) == {"model"}
    quantile = "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))"
    assert [m for m, _ in selectors(quantile)] == ["x_bucket"]


# The sample names a family of each type exposes once it has samples (prometheus_client's own exporter).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s")


def exported(metrics_text: str) -> dict[str, set[str] | None]:
    """Series name -> label names, as Prometheus stores them after scraping this text (the text format's
    names as written: prometheus_client's parser would add ``_total`` to Triton's counters). A family
    declared without samples yet (a labelled counter nothing has counted) maps the names its samples
    will have to None: labels unknown."""
    series: dict[str, set[str] | None] = {}
    declared = {}
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            declared[name] = kind
        elif (match := _SAMPLE.match(line)) is not None:
            labels = set(re.findall(r'([A-Za-z_]\w*)="', match[2] or ""))
            series[match[1]] = (series.get(match[1]) or set()) | labels
    for name, kind in declared.items():
        names = [name + s for s in SUFFIXES.get(kind, ("",))]
        if not any(n in series for n in [name, *names]):
            for sample_name in names:
                series[sample_name] = None
    return series


def test_exposition_reading() -> None:
    text = (
        "# TYPE nv_inference_count counter\n"
        'nv_inference_count{model="ocr",version="1"} 3\n'
        "# TYPE ocrstack_gateway_translations counter\n"
        "# TYPE h histogram\n"
        'h_bucket{le="1.0",route="/ocr"} 1\nh_count{route="/ocr"} 1\n'
    )
    assert exported(text) == {
        "nv_inference_count": {"model", "version"},
        "ocrstack_gateway_translations_total": None,
        "h_bucket": {"le", "route"},
        "h_count": {"route"},
    }


def triton_library_names() -> bytes:
    import pytriton

    libraries = Path(pytriton.__file__).resolve().parents[1] / "nvidia_pytriton.libs"
    (library,) = libraries.glob("libtritonserver*.so*")
    return library.read_bytes()


def test_gpu_metric_names_are_in_the_triton_server() -> None:
    """Short strings are stored in pieces of up to 16 bytes in the binary: the first piece must be there."""
    library = triton_library_names()
    for name in GPU_METRICS:
        assert name.encode()[:16] in library, name
    assert b"nv_gpu_memory_usage_bytes"[:20] not in library


# Added by the scrape (Kubernetes pod discovery) or carried by the GPU metrics: not in the test stack.
SCRAPE_LABELS = {"namespace", "pod", "gpu_uuid", "le"}


def problems(expressions: Iterable[tuple[str, str]], series: dict[str, set[str] | None]) -> list[str]:
    """What in ``expressions`` names a metric or label that ``series`` does not have."""
    found = []
    for where, expr in expressions:
        names = selectors(expr)
        for name, labels in names:
            if name in GPU_METRICS and name not in series:
                continue
            if name not in series:
                found.append(f"{where}: {name} is not exported")
            elif (known := series[name]) is not None and labels - known - SCRAPE_LABELS:
                found.append(f"{where}: {name} has no label {sorted(labels - known)}")
        if any(series.get(n) is None for n, _ in names):
            continue
        known = set().union(*(series[n] or set() for n, _ in names if n in series)) | SCRAPE_LABELS
        for label in grouping_labels(expr) - known:
            found.append(f"{where}: groups by {label!r}, which none of its metrics has")
    return found


@pytest.fixture(scope="module")
def live_series(live_stack: LiveStack) -> dict[str, set[str] | None]:
    return exported(live_stack.triton_metrics) | exported(live_stack.gateway_metrics)


def test_dashboard_queries_name_exported_metrics(live_series: dict[str, set[str] | None]) -> None:
    assert problems(queries(), live_series) == []


def test_autoscaling_query_names_exported_metrics(live_series: dict[str, set[str] | None]) -> None:
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    expressions = [(r["name"]["as"], r["metricsQuery"]) for r in rules]
    expressions += [(r["name"]["as"], r["seriesQuery"]) for r in rules]
    assert problems(expressions, live_series) == []


def test_metric_check_catches_a_misspelt_metric_and_label(live_series: dict[str, set[str] | None]) -> None:
    wrong = [
        ("a", "sum by (model) (rate(nv_inference_queue_duration_ms[5m]))"),
        ("b", 'sum(rate(ocrstack_gateway_requests_total{code=~"5.."}[5m]))'),
        ("c", "sum by (modle) (rate(nv_inference_exec_count[5m]))"),
    ]
    found = problems(wrong, live_series)
    assert len(found) == 3, found
