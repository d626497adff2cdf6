"""Loading the ground truth: ICDAR line parsing always, the real set when it is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocrstack.evaluation.dataset import (
    DATA_ENV_VAR,
    by_kind,
    data_root,
    load_samples,
    parse_icdar_line,
    read_icdar_gt,
)

REAL_DATA = data_root()
realdata = pytest.mark.skipif(not (REAL_DATA / "gt.json").is_file(), reason=f"no real data at {REAL_DATA}")


def test_parse_icdar_line_keeps_commas_in_text() -> None:
    box = parse_icdar_line("1,2,3,4,5,6,7,8,Hello, world")
    assert box.text == "Hello, world"
    np.testing.assert_array_equal(box.points, [[1, 2], [3, 4], [5, 6], [7, 8]])
    assert box.points.dtype == np.float32


def test_parse_icdar_line_rejects_short_lines() -> None:
    with pytest.raises(ValueError, match="8 coordinates"):
        parse_icdar_line("1,2,3,4")


def test_read_icdar_gt_strips_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "gt_img_1.txt"
    path.write_bytes(
        "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\r\n1,1,2,1,2,2,1,2,###\r\n".encode()
    )
    boxes = read_icdar_gt(path)
    assert [b.text for b in boxes] == ["Genaxis Theatre", "###"]
    assert boxes[0].points[0, 0] == 377.0
    assert [b.dont_care for b in boxes] == [False, True]


def test_data_root_override_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert data_root().parts[-3:] == ("shared", "testdata", "real")


@pytest.mark.realdata
@realdata
def test_real_set_loads() -> None:
    samples = load_samples(REAL_DATA)
    assert all(s.path.is_file() for s in samples)
    crops, pages, scenes = (by_kind(samples, k) for k in ("crop", "page", "icdar"))
    assert len(crops) == 16 and len(pages) == 4 and len(scenes) == 10
    assert {s.lang for s in crops} == {"en", "zh"}
    assert all(len(s.lines) == 1 for s in crops)
    assert all(s.lines and not s.boxes for s in pages)


@pytest.mark.realdata
@realdata
def test_real_icdar_gt() -> None:
    scenes = by_kind(load_samples(REAL_DATA), "icdar")
    assert sum(len(s.boxes) for s in scenes) == 82
    first = next(s for s in scenes if s.name == "img_1.jpg")
    # The BOM must not stick to the first coordinate, and "[06]" keeps its brackets.
    assert first.boxes[0].text == "Genaxis Theatre"
    assert first.boxes[1].text == "[06]"
    assert all(box.points.shape == (4, 2) for s in scenes for box in s.boxes)
    assert any(box.dont_care for s in scenes for box in s.boxes)
