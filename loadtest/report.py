"""From the load test's per-step figures to ``summary.json``, ``report.md`` and the plots."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from loadtest.process_cpu import SERVER

MODES = ("batched", "sequential")
FIGURES = ("images_per_s", "p50_ms", "p95_ms", "p99_ms", "errors")
COLORS = {"batched": "tab:blue", "sequential": "tab:orange"}
TARGET_STYLE = {"gateway": "-", "triton": "--"}
TARGET_LABEL = {"gateway": "through the gateway", "triton": "Triton direct (gRPC)"}

Step = dict[str, Any]


def steps_of(steps: list[Step], target: str, mode: str) -> dict[int, Step]:
    return {s["users"]: s for s in steps if s["target"] == target and s["mode"] == mode}


def main_target(steps: list[Step]) -> str:
    """The figures of summary.json are the gateway's, or Triton's when the gateway was not measured."""
    return "gateway" if any(s["target"] == "gateway" for s in steps) else "triton"


def counter(step: Step, metric: str, model: str) -> float:
    return float(step.get("triton_counters", {}).get(metric, {}).get(model, 0.0))


def served_models(step: Step) -> list[str]:
    """The ONNX models (``text_*``) that executed anything during the step."""
    executions = step.get("triton_counters", {}).get("nv_inference_exec_count", {})
    return sorted(m for m, n in executions.items() if n > 0 and m.startswith("text_"))


def average_batch(step: Step, model: str) -> float:
    executions = counter(step, "nv_inference_exec_count", model)
    return round(counter(step, "nv_inference_count", model) / executions, 2) if executions else 0.0


def per_request_ms(step: Step, model: str) -> dict[str, float]:
    """Queue and compute milliseconds per request of ``model``, and compute per batch item."""
    requests = counter(step, "nv_inference_request_success", model)
    items = counter(step, "nv_inference_count", model)
    compute = sum(
        counter(step, f"nv_inference_compute_{part}_duration_us", model)
        for part in ("input", "infer", "output")
    )
    if not requests:
        return {"queue_ms": 0.0, "compute_ms": 0.0, "compute_ms_per_item": 0.0}
    return {
        "queue_ms": round(counter(step, "nv_inference_queue_duration_us", model) / requests / 1000, 1),
        "compute_ms": round(compute / requests / 1000, 1),
        "compute_ms_per_item": round(compute / max(items, 1) / 1000, 1),
    }


def summary(steps: list[Step], peers: Mapping[str, float], device: str) -> dict[str, Any]:
    """Exactly the keys of the issue: levels, per-mode figures, ratios, batch sizes, peers, device."""
    target = main_target(steps)
    levels = sorted({s["users"] for s in steps})
    by_mode = {mode: steps_of(steps, target, mode) for mode in MODES}
    figures = {
        mode: {
            str(level): {k: by_mode[mode][level][k] for k in FIGURES}
            for level in levels
            if level in by_mode[mode]
        }
        for mode in MODES
    }
    ratios = {
        str(level): round(
            by_mode["batched"][level]["images_per_s"] / by_mode["sequential"][level]["images_per_s"], 3
        )
        for level in levels
        if level in by_mode["batched"]
        and level in by_mode["sequential"]
        and by_mode["sequential"][level]["images_per_s"]
    }
    batches: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        for level, step in sorted(by_mode[mode].items()):
            for model in served_models(step):
                batches.setdefault(mode, {}).setdefault(model, {})[str(level)] = average_batch(step, model)
    best_pipeline = max((s["images_per_s"] for s in by_mode["batched"].values()), default=0.0)
    best_peer = max(peers.values(), default=0.0)
    return {
        "levels": levels,
        "batched": figures["batched"],
        "sequential": figures["sequential"],
        "batched_over_sequential": ratios,
        "avg_batch_size": batches,
        "peers": {name: round(value, 3) for name, value in peers.items()},
        "pipeline_over_peer": round(best_pipeline / best_peer, 3) if best_peer else None,
        "device": device,
    }


# ------------------------------------------------------------------------------------------------ plots


def _axes_levels(ax: Any, levels: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(level) for level in levels])
    ax.set_xlabel("concurrent users")
    ax.grid(True, alpha=0.3)


def plot_throughput(steps: list[Step], peers: Mapping[str, float], levels: list[int], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for target in ("gateway", "triton"):
        for mode in MODES:
            runs = steps_of(steps, target, mode)
            if runs:
                xs = sorted(runs)
                ax.plot(
                    xs,
                    [runs[x]["images_per_s"] for x in xs],
                    TARGET_STYLE[target],
                    marker="o",
                    color=COLORS[mode],
                    label=f"{mode}, {TARGET_LABEL[target]}",
                )
    for (name, value), color in zip(
        sorted(peers.items()), ("tab:green", "tab:red", "tab:purple"), strict=False
    ):
        ax.axhline(
            value, color=color, linestyle=":", linewidth=2, label=f"peer {name} in process (best split)"
        )
    _axes_levels(ax, levels)
    ax.set_ylabel("throughput (images/s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput against load")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_latency(steps: list[Step], levels: list[int], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))  # own scales: p95 runs far above p50 under load
    for ax, figure in zip(axes, ("p50_ms", "p95_ms"), strict=True):
        for target in ("gateway", "triton"):
            for mode in MODES:
                runs = steps_of(steps, target, mode)
                if runs:
                    xs = sorted(runs)
                    ys = [(runs[x][figure] or 0) / 1000 for x in xs]
                    ax.plot(
                        xs,
                        ys,
                        TARGET_STYLE[target],
                        marker="o",
                        color=COLORS[mode],
                        label=f"{mode}, {TARGET_LABEL[target]}",
                    )
        _axes_levels(ax, levels)
        ax.set_title(f"{figure[:3]} latency")
        ax.set_ylabel("latency per image (s)")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_batches(steps: list[Step], levels: list[int], out: Path) -> None:
    target = main_target(steps)
    fig, ax = plt.subplots(figsize=(8, 5))
    markers = iter("osd^v<>ph")
    for mode in MODES:
        runs = steps_of(steps, target, mode)
        for model in sorted({m for step in runs.values() for m in served_models(step)}):
            xs = sorted(x for x in runs if model in served_models(runs[x]))
            ys = [average_batch(runs[x], model) for x in xs]
            style = "-" if mode == "batched" else "--"
            ax.plot(xs, ys, style, marker=next(markers, "o"), label=f"{model} ({mode} mode)")
    _axes_levels(ax, levels)
    ax.set_ylabel("average executed batch size (items per execution)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Executed batch size per model ({TARGET_LABEL[target]})")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def write_plots(steps: list[Step], peers: Mapping[str, float], out: Path) -> None:
    levels = sorted({s["users"] for s in steps})
    plot_throughput(steps, peers, levels, out / "throughput.png")
    plot_latency(steps, levels, out / "latency.png")
    plot_batches(steps, levels, out / "batch.png")


def write_summary(out: Path, data: dict[str, Any]) -> None:
    (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ report


def _fmt(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def level_table(steps: list[Step], target: str) -> list[str]:
    rows = [
        "| users | batched images/s | sequential images/s | batched / sequential "
        "| batched p50 / p95 / p99 ms | sequential p50 / p95 / p99 ms | errors (b / s) "
        "| generator CPU share (b / s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    batched, sequential = steps_of(steps, target, "batched"), steps_of(steps, target, "sequential")
    for level in sorted(set(batched) | set(sequential)):
        b, q = batched.get(level, {}), sequential.get(level, {})
        ratio = b.get("images_per_s", 0) / q["images_per_s"] if q.get("images_per_s") else None
        lat = [" / ".join(_fmt(r.get(k), 0) for k in ("p50_ms", "p95_ms", "p99_ms")) for r in (b, q)]
        share = " / ".join(f"{r['generator_cpu_share']:.1%}" if r else "-" for r in (b, q))
        speeds = f"{_fmt(b.get('images_per_s'))} | {_fmt(q.get('images_per_s'))} | {_fmt(ratio)}"
        errors = f"{b.get('errors', '-')} / {q.get('errors', '-')}"
        rows.append(f"| {level} | {speeds} | {lat[0]} | {lat[1]} | {errors} | {share} |")
    return rows


def model_table(steps: list[Step], target: str) -> list[str]:
    """Per level and mode: each ONNX model's batch, queue and compute time per request, compute per item;
    the crop step (python) as well, since sequential recognition waits inside it."""
    rows = [
        "| users | mode | model | avg batch | queue ms / request | compute ms / request "
        "| compute ms / item |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        for level, step in sorted(steps_of(steps, target, mode).items()):
            crop_step = "crop_recognize" if mode == "batched" else "crop_recognize_sequential"
            for model in [*served_models(step), crop_step]:
                t = per_request_ms(step, model)
                rows.append(
                    f"| {level} | {mode} | {model} | {average_batch(step, model):.2f} | {t['queue_ms']} "
                    f"| {t['compute_ms']} | {t['compute_ms_per_item']} |"
                )
    return rows


GATEWAY = "gateway"  # the gateway's process in the per-window CPU figures; Triton's server is SERVER
CPU_GROUPS = ("detector", "recognizers", "python steps", SERVER, GATEWAY)


def cpu_group(name: str) -> str:
    """Which column of the CPU table a process of the stack counts in (``stack_cpu_s`` keys)."""
    if name.startswith("text_detection"):
        return "detector"
    if name.startswith("text_recognition"):
        return "recognizers"
    if name in (SERVER, GATEWAY):
        return name
    return "python steps"  # the python models: preprocessing, boxes, crop steps, ensembles' helpers


def cpu_ms_per_image(step: Step) -> dict[str, float]:
    """CPU milliseconds per image the stack spent in a measured window, by group and ``all``; empty when
    the window has no CPU figures (a stack this run did not start) or no image."""
    spent = step.get("stack_cpu_s") or {}
    images = step["requests"] - step["errors"]
    if not spent or images <= 0:
        return {}
    groups = dict.fromkeys(CPU_GROUPS, 0.0)
    for name, seconds in spent.items():
        groups[cpu_group(name)] += seconds * 1000 / images
    return {**groups, "all": sum(groups.values())}


def cpu_table(steps: list[Step], target: str, cores: int) -> list[str]:
    """CPU per image by mode and level, and the images/s that CPU allows on ``cores`` cores."""
    rows = [
        "| users | mode | CPU ms per image | "
        + " | ".join(CPU_GROUPS)
        + f" | images/s the CPU allows ({cores} cores) | images/s measured |",
        "|---|---|---|" + "---|" * len(CPU_GROUPS) + "---|---|",
    ]
    for level in sorted({s["users"] for s in steps if s["target"] == target}):
        for mode in MODES:
            step = steps_of(steps, target, mode).get(level)
            cpu = cpu_ms_per_image(step) if step is not None else {}
            if step is None or not cpu:
                continue
            cells = " | ".join(f"{cpu[group]:.0f}" for group in CPU_GROUPS)
            bound, measured = cores * 1000 / cpu["all"], step["images_per_s"]
            rows.append(f"| {level} | {mode} | {cpu['all']:.0f} | {cells} | {bound:.2f} | {measured:.2f} |")
    return rows if len(rows) > 2 else []


def write_report(
    out: Path, data: dict[str, Any], steps: list[Step], sections: list[tuple[str, list[str]]]
) -> None:
    """``report.md``: the figures, the tables, then the sections the caller adds (peers, roofline, ...)."""
    target = main_target(steps)
    lines = [
        f"# Load test: batched against sequential recognition ({out.name})",
        "",
        f"Device: {data['device']}.",
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
        "",
        "![executed batch sizes](batch.png)",
        "",
        f"## Per level, {TARGET_LABEL[target]}",
        "",
        *level_table(steps, target),
        "",
    ]
    if target == "gateway" and any(s["target"] == "triton" for s in steps):
        lines += [
            "## Per level, Triton direct (gRPC, the serving-only figure)",
            "",
            *level_table(steps, "triton"),
            "",
        ]
    lines += [
        f"## Batch size, queue and compute time per model ({TARGET_LABEL[target]})",
        "",
        "From Triton's counters at the ends of each measured window. Compute = input + infer + output time.",
        "",
        *model_table(steps, target),
        "",
    ]
    for title, body in sections:
        lines += [f"## {title}", "", *body, ""]
    (out / "report.md").write_text("\n".join(lines))
