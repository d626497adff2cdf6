"""Installing the project's own trained checkpoints into the checkpoint directory the build reads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ocrstack.config import KOREAN_RECOGNIZERS
from ocrstack.models import build_model
from ocrstack.weights.checkpoint import (
    Checkpoint,
    ChecksumError,
    load_checkpoint,
    read_checksums,
    save_checkpoint,
)
from ocrstack.weights.trained import install_trained, ship


def _trained(folder: Path, name: str) -> Path:
    config = next(c for c in KOREAN_RECOGNIZERS.values() if c.name == name)
    charset = ["가", "나", " "]
    model = build_model(config.architecture, len(charset) + 1)
    path = folder / f"{name}.pt"
    save_checkpoint(Checkpoint(name, config.architecture, model.state_dict(), charset, "test"), path)
    return path


def test_installs_beside_existing_checkpoints(tmp_path: Path) -> None:
    source, out = tmp_path / "trained", tmp_path / "checkpoints"
    horizontal = _trained(source, "text_recognition_ko_h")
    _trained(source, "text_recognition_ko_v")
    imported = out / "text_detection.pt"
    out.mkdir()
    imported.write_bytes(b"imported")
    (out / "SHA256SUMS").write_text("0" * 64 + "  text_detection.pt\n")

    installed = install_trained(source, out)

    assert [p.name for p in installed] == ["text_recognition_ko_h.pt", "text_recognition_ko_v.pt"]
    sums = read_checksums(out)
    assert set(sums) == {"text_detection.pt", "text_recognition_ko_h.pt", "text_recognition_ko_v.pt"}
    assert load_checkpoint(out / horizontal.name).config_name == "text_recognition_ko_h"  # verified load
    again = install_trained(source, out)  # idempotent
    assert again == installed and read_checksums(out) == sums


def test_a_corrupted_trained_checkpoint_stops_the_install(tmp_path: Path) -> None:
    source = tmp_path / "trained"
    path = _trained(source, "text_recognition_ko_h")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ChecksumError, match="does not match"):
        install_trained(source, tmp_path / "checkpoints")
    assert not (tmp_path / "checkpoints" / path.name).exists()


def test_no_trained_checkpoints_install_nothing(tmp_path: Path) -> None:
    assert install_trained(tmp_path / "absent", tmp_path / "checkpoints") == []


def test_ship_copies_a_run_under_its_model_name(tmp_path: Path) -> None:
    run = _trained(tmp_path / "run", "text_recognition_ko_v")
    shipped = ship(run, tmp_path / "weights")
    assert shipped == tmp_path / "weights" / "text_recognition_ko_v.pt"
    assert load_checkpoint(shipped).config_name == "text_recognition_ko_v"
    assert install_trained(tmp_path / "weights", tmp_path / "checkpoints") == [
        tmp_path / "checkpoints" / "text_recognition_ko_v.pt"
    ]


def test_ship_refuses_an_unverified_checkpoint(tmp_path: Path) -> None:
    run = _trained(tmp_path / "run", "text_recognition_ko_h")
    run.write_bytes(run.read_bytes() + b"x")
    with pytest.raises(ChecksumError):
        ship(run, tmp_path / "weights")
    assert not (tmp_path / "weights").exists()


def test_ship_refuses_weights_of_another_architecture_than_the_record(tmp_path: Path) -> None:
    """Weights trained before the record changed architecture (the stride-8 lines model, for one) would
    build and export as the old model under the new record's name."""
    run = _trained(tmp_path / "run", "text_recognition_ko_h")
    stale = replace(load_checkpoint(run), architecture=KOREAN_RECOGNIZERS["vertical"].architecture)
    save_checkpoint(stale, run)
    with pytest.raises(ValueError, match="trained as korean_mobilenetv3_bilstm; its record now says"):
        ship(run, tmp_path / "weights")
    assert not (tmp_path / "weights").exists()
