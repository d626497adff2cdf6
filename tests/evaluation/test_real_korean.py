"""The real Korean set and its benchmark: where the set is found, how it loads, the Hangul-only score,
and the figures ``scripts/benchmark_korean.py`` computes from what each system read."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ocrstack.evaluation.dataset import (
    KOREAN_DATA_ENV_VAR,
    Sample,
    by_kind,
    korean_data_root,
    load_samples,
    source_of,
)
from ocrstack.evaluation.metrics import hangul_counts, is_hangul, normalize_text

REPO_ROOT = Path(__file__).resolve().parents[2]
KOREAN_DATA = korean_data_root()
real_ko = pytest.mark.skipif(
    not (KOREAN_DATA / "gt.json").is_file(), reason=f"no real Korean data at {KOREAN_DATA}"
)
REPOSITORY = REPO_ROOT / "model_repository"
KOREAN_MODELS = [REPOSITORY / n / "1" / "model.onnx" for n in ("text_detection", "text_recognition_ko_h")]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """``scripts/benchmark_korean.py``, the module ``python -m scripts.benchmark_korean`` runs."""
    return importlib.import_module("scripts.benchmark_korean")


# ----------------------------------------------------------------------------------------------- dataset


def test_korean_data_root_override_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KOREAN_DATA_ENV_VAR, str(tmp_path / "env"))
    assert korean_data_root() == tmp_path / "env"
    assert korean_data_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv(KOREAN_DATA_ENV_VAR)
    assert korean_data_root().parts[-3:] == ("shared", "testdata", "real_ko")


def test_source_is_the_first_folder(tmp_path: Path) -> None:
    nested = Sample(path=tmp_path / "egov" / "logo.png", kind="crop", lang="ko")
    top = Sample(path=tmp_path / "page.png", kind="page", lang="ko")
    assert source_of(nested, tmp_path) == "egov"
    assert source_of(top, tmp_path) == ""


@real_ko
def test_real_korean_set_loads() -> None:
    samples = load_samples(KOREAN_DATA)
    assert len(samples) == 30
    assert all(s.path.is_file() and s.lang == "ko" and s.lines for s in samples)
    assert len(by_kind(samples, "crop")) == 5 and len(by_kind(samples, "page")) == 25
    assert {source_of(s, KOREAN_DATA) for s in samples} == {"cvlab_lp", "upstage", "tapsee", "egov"}


# ----------------------------------------------------------------------------------------------- metrics


def test_is_hangul() -> None:
    assert all(is_hangul(c) for c in "한글ㄱㅏ")
    assert not any(is_hangul(c) for c in "A7号。")


def test_hangul_counts_ignore_digits_latin_and_order() -> None:
    counts = hangul_counts("8669 바 서울", "서울71\n바8669")
    assert (counts.matched, counts.predicted, counts.expected) == (3, 3, 3)
    # A reader without Korean scores nothing, however many digits it gets right.
    assert hangul_counts("718669", "서울71 바8669").hmean == 0.0


def test_hangul_counts_normalise_jamo() -> None:
    # NFKC maps half-width and compatibility jamo alike to conjoining jamo.
    assert normalize_text("ﾡ") == normalize_text("ㄱ") == "\u1100"
    assert hangul_counts("ﾡ", "ㄱ").hmean == 1.0


# ------------------------------------------------------------------------------------------ the benchmark


def _sample(root: Path, relative: str, kind: str, lines: list[str]) -> Sample:
    return Sample(path=root / relative, kind=kind, lang="ko", lines=tuple(lines))  # type: ignore[arg-type]


def test_figures_from_what_was_read(bench: ModuleType, tmp_path: Path) -> None:
    samples = [
        _sample(tmp_path, "egov/button.jpg", "crop", ["이전 페이지"]),
        _sample(tmp_path, "egov/logo.png", "crop", ["행정안전부"]),
        _sample(tmp_path, "cvlab_lp/lp.jpg", "page", ["서울71", "바8669"]),
        _sample(tmp_path, "tapsee/run.jpg", "page", ["가나"]),
    ]
    box = np.zeros((4, 2), np.float32)
    outputs = bench.Outputs(
        pages={
            samples[2].path: [(box, "바8669"), (box, "71 서울")],  # line order does not matter
            samples[3].path: [(box, "가다")],
        },
        crops={samples[0].path: "이전페이지", samples[1].path: "행정안전"},
    )
    figures = bench.korean_figures(samples, outputs, tmp_path)
    assert figures["crops"]["count"] == 2
    assert figures["crops"]["accuracy"] == 0.5  # spaces ignored: the button is right
    assert figures["crops"]["one_minus_ned"] == pytest.approx((1.0 + 0.8) / 2)
    # Pages: 9 of 9 plate characters, 1 of 2 and 1 of 2 on the other page.
    assert figures["pages"]["char_precision"] == pytest.approx(10 / 11)
    assert figures["pages"]["char_recall"] == pytest.approx(10 / 11)
    assert figures["pages"]["hangul_recall"] == pytest.approx(4 / 5)
    assert figures["sources"]["cvlab_lp"]["char_f1"] == 1.0
    assert figures["sources"]["tapsee"]["char_f1"] == 0.5
    assert figures["sources"]["egov"]["count"] == 2
    # Every item: the crops (5 of 5 and 4 of 5 characters) join the pages (10 of 11).
    assert figures["all_items"]["char_recall"] == pytest.approx((5 + 4 + 10) / (5 + 5 + 11))
    rows = dict(bench.table_rows({"ours": {**figures, "seconds_per_image": 1.0}}))
    assert rows["crop exact match (2 crops)"] == ["0.500"]
    assert rows["char F1 tapsee/ (1 items)"] == ["0.500"]


def test_missing_tesseract_is_a_note_not_a_crash(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.shutil, "which", lambda _name: None)
    note = bench.build_tesseract(2, "kor")
    assert isinstance(note, str) and "skipped" in note


def test_markdown_table_escapes_cells(bench: ModuleType) -> None:
    table = bench.markdown_table(["figure", "ours"], [["a|b", "x\ny"]])
    assert table.splitlines() == ["| figure | ours |", "|---|---|", "| a\\|b | x / y |"]


@real_ko
@pytest.mark.skipif(not all(p.is_file() for p in KOREAN_MODELS), reason="run `make model-repository`")
def test_ours_reads_a_real_korean_crop(bench: ModuleType) -> None:
    """Smoke test: the served choice of recognizers for ``ko``, and a logo read through them."""
    system, chosen = bench.build_ours(REPOSITORY, "ko", threads=1)
    assert chosen["horizontal"] == "text_recognition_ko_h"
    entries = json.loads((KOREAN_DATA / "gt.json").read_text(encoding="utf-8"))
    logo = next(e for e in entries if e["path"] == "egov/mois_logo.png")
    image = bench.load_images([_sample(KOREAN_DATA, logo["path"], "crop", logo["lines"])])
    text = system.read_crop(next(iter(image.values())))
    assert "행정안전부" in normalize_text(text)
