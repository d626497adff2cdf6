"""The figures that say what batching buys: cost per crop against batch size, and CPU per image."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest import batch_cost, report


def test_cost_per_crop_is_measured_whole_and_as_served(exported_repository: Path) -> None:
    names = batch_cost.batched_recognizers(exported_repository)
    assert "text_recognition_ch" in names
    assert not any(name.endswith("_sequential") for name in names)  # the twins do not batch
    cost = batch_cost.measure(exported_repository, "text_recognition_ch", batches=(1, 4), crops_per_pass=4)
    assert cost.width == 320 and cost.threads == 1
    assert cost.max_elements_per_run == 3 * 48 * 320  # one crop of the first bucket per run, as served
    for figures in (cost.whole_ms, cost.served_ms):
        assert set(figures) == {1, 4} and all(ms > 0 for ms in figures.values())
    table = batch_cost.report_lines([cost])
    assert table[0].startswith("| model (width, threads) | run | batch 1 | batch 4 |")
    assert len(table) == 4 and "runs of 46080 elements" in table[3]


def step(mode: str, users: int, images: int, cpu: dict[str, float], errors: int = 0) -> report.Step:
    return {
        "users": users, "target": "gateway", "mode": mode, "requests": images + errors, "errors": errors,
        "images_per_s": images / 10, "stack_cpu_s": cpu,
    }  # fmt: skip


def test_cpu_per_image_groups_the_stack_processes() -> None:
    spent = {
        "text_detection": 2.0,
        "text_recognition_ch": 3.0,
        "text_recognition_ch_sequential": 1.0,
        "crop_recognize": 1.5,
        "preprocess": 0.5,
        "tritonserver": 0.4,
        "gateway": 0.6,
    }
    cpu = report.cpu_ms_per_image(step("batched", 8, images=10, cpu=spent, errors=2))
    assert cpu == pytest.approx(
        {
            "detector": 200.0,
            "recognizers": 400.0,
            "python steps": 200.0,
            "tritonserver": 40.0,
            "gateway": 60.0,
            "all": 900.0,
        }
    )
    assert report.cpu_ms_per_image(step("batched", 8, images=10, cpu={})) == {}
    assert report.cpu_ms_per_image(step("batched", 8, images=0, cpu=spent)) == {}


def test_cpu_table_gives_the_images_per_s_the_cores_allow() -> None:
    steps = [
        step("batched", 8, images=10, cpu={"text_detection": 5.0, "text_recognition_ch": 5.0}),
        step("sequential", 8, images=10, cpu={"text_detection": 5.0, "text_recognition_ch_sequential": 7.5}),
    ]
    rows = report.cpu_table(steps, "gateway", cores=2)
    assert rows[2] == "| 8 | batched | 1000 | 500 | 500 | 0 | 0 | 0 | 2.00 | 1.00 |"
    assert rows[3] == "| 8 | sequential | 1250 | 500 | 750 | 0 | 0 | 0 | 1.60 | 1.00 |"
    assert report.cpu_table([{**s, "stack_cpu_s": {}} for s in steps], "gateway", cores=2) == []
