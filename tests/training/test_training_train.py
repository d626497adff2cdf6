"""A tiny training run: outputs, resumption equal to an uninterrupted run, and the exported checkpoint."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ocrstack.config import KOREAN_RECOGNIZERS
from ocrstack.models.korean_ppocr_rec import KoreanPPOCRRecognizer
from ocrstack.models.korean_rec import KoreanRecognizer, jamo_table
from ocrstack.models.ppocr_rec import PPOCRv4Recognizer
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.charset import load_charset
from training.train import (
    MODEL_FILE,
    STATE_FILE,
    GroupSamples,
    encode,
    lr_factor,
    parse_args,
    train,
    width_sorted_batches,
)

# Groups of 4 batches: the run crosses a group boundary and is interrupted inside a group.
# The small recognizer: these tests are about the training loop, not the model.
TINY = ["--architecture", "korean_mobilenetv3_bilstm_stride4",
        "--steps", "6", "--batch", "3", "--max-chars", "3", "--pad", "tight", "--val-every", "3",
        "--val-count", "2", "--warmup", "2", "--width-group", "4", "--no-progress"]  # fmt: skip


def _args(out: Path, *extra: str):
    return parse_args(["--orientation", "horizontal", "--out", str(out), *TINY, *extra])


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(s, 100, 10) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(b <= a for a, b in itertools.pairwise(factors[10:]))
    assert factors[-1] >= 0.02


def test_encode_rejects_unknown_characters() -> None:
    index = {c: i + 1 for i, c in enumerate(load_charset("korean"))}
    assert encode("가 A", index) == [index["가"], index[" "], index["A"]]
    with pytest.raises(ValueError, match="outside the charset"):
        encode("漢", index)


def test_config_records() -> None:
    h, v = KOREAN_RECOGNIZERS["horizontal"], KOREAN_RECOGNIZERS["vertical"]
    assert (h.name, v.name) == ("text_recognition_ko_h", "text_recognition_ko_v")
    assert (h.orientation, v.orientation) == ("horizontal", "vertical")


def _samples(widths: list[int]) -> list[tuple[np.ndarray, str]]:
    return [(np.zeros((48, w, 3), np.uint8), f"s{i}") for i, w in enumerate(widths)]


def test_width_sorted_batches_cut_a_sorted_group_in_shuffled_order() -> None:
    widths = [(i * 7919) % 97 + 8 for i in range(20)]
    batches = width_sorted_batches(_samples(widths), size=4, seed=3, group=0)
    assert len(batches) == 5 and all(len(b) == 4 for b in batches)
    assert sorted(text for b in batches for _, text in b) == sorted(f"s{i}" for i in range(20))
    spans = sorted((min(c.shape[1] for c, _ in b), max(c.shape[1] for c, _ in b)) for b in batches)
    assert all(high <= low_next for (_, high), (low_next, _) in itertools.pairwise(spans))
    assert [max(c.shape[1] for c, _ in b) for b in batches] != sorted(
        max(c.shape[1] for c, _ in b) for b in batches
    ), "batches should not come shortest first"
    again = width_sorted_batches(_samples(widths), size=4, seed=3, group=0)
    assert [[t for _, t in b] for b in again] == [[t for _, t in b] for b in batches]


def test_group_samples_are_consecutive_ranges() -> None:
    assert list(GroupSamples(2, 4, 3)) == [[6, 7, 8], [9, 10, 11]]
    assert len(GroupSamples(2, 4, 3)) == 2


def test_tiny_run_resumes_like_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = train(_args(tmp_path / "whole"))
    interrupted = tmp_path / "interrupted"
    first = train(_args(interrupted, "--stop-after", "3"))
    assert (interrupted / STATE_FILE).exists() and not (interrupted / MODEL_FILE).exists()
    assert [r["step"] for r in first["train"]] == [1, 2, 3]
    resumed = train(_args(interrupted))

    losses = [r["loss"] for r in whole["train"]]
    assert [r["loss"] for r in resumed["train"]] == losses  # bit-exact on CPU
    assert len(losses) == 6 and all(loss > 0 for loss in losses)
    assert [r["step"] for r in resumed["val"]] == [3, 6]
    for out in (tmp_path / "whole", interrupted):
        curves = json.loads((out / "curves.json").read_text())
        assert [r["step"] for r in curves["train"]] == list(range(1, 7))
        assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
        assert not list(out.glob("*.tmp"))

    checkpoint = load_checkpoint(interrupted / MODEL_FILE)
    assert checkpoint.config_name == "text_recognition_ko_h"
    assert checkpoint.charset == load_charset("korean")
    model = checkpoint.build()
    assert isinstance(model, KoreanRecognizer)
    reference = load_checkpoint(tmp_path / "whole" / MODEL_FILE).build()
    x = torch.rand(1, 3, 48, 64)
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_init_starts_a_new_run_from_a_checkpoint(tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(_args(first, "--steps", "2", "--val-every", "2"))
    shipped = load_checkpoint(first / MODEL_FILE)

    second = tmp_path / "second"
    history = train(_args(second, "--steps", "1", "--val-every", "1", "--init", str(first / MODEL_FILE)))
    assert [r["step"] for r in history["train"]] == [1]
    continued = load_checkpoint(second / MODEL_FILE)
    assert "from sha256:" in continued.source
    # One step on from the initial weights: close to them, not a fresh random model.
    fresh = KoreanRecognizer(len(load_charset("korean")) + 1).state_dict()
    name = "head.weight"
    step_from_init = (continued.state_dict[name] - shipped.state_dict[name]).abs().max()
    distance_to_fresh = (continued.state_dict[name] - fresh[name]).abs().max()
    assert 0 < step_from_init < distance_to_fresh


def test_init_refuses_the_other_orientation(tmp_path: Path) -> None:
    train(_args(tmp_path / "h", "--steps", "1", "--val-every", "1"))
    init = ["--init", str(tmp_path / "h" / MODEL_FILE)]
    vertical = parse_args(["--orientation", "vertical", "--out", str(tmp_path / "v"), *TINY, *init])
    with pytest.raises(ValueError, match="not text_recognition_ko_v"):
        train(vertical)


def test_init_takes_a_checkpoint_without_jamo_scores(tmp_path: Path) -> None:
    train(_args(tmp_path / "first", "--steps", "1", "--val-every", "1"))
    old = load_checkpoint(tmp_path / "first" / MODEL_FILE)
    plain = {k: v for k, v in old.state_dict.items() if not k.startswith("jamo.")}
    save_checkpoint(replace(old, state_dict=plain), tmp_path / "plain" / MODEL_FILE)

    history = train(
        _args(
            tmp_path / "second",
            "--steps",
            "1",
            "--val-every",
            "1",
            "--init",
            str(tmp_path / "plain" / MODEL_FILE),
        )
    )
    assert len(history["train"]) == 1
    continued = load_checkpoint(tmp_path / "second" / MODEL_FILE)
    assert torch.equal(continued.state_dict["jamo.table"], jamo_table(load_charset("korean")))


def test_init_carries_weights_across_sequence_strides(tmp_path: Path) -> None:
    """Weights of a stride-8 model start a stride-4 run: the horizontal model changed stride that way."""
    train(_args(tmp_path / "first", "--steps", "1", "--val-every", "1"))
    fine = load_checkpoint(tmp_path / "first" / MODEL_FILE)
    assert fine.architecture == "korean_mobilenetv3_bilstm_stride4"  # TINY's
    save_checkpoint(replace(fine, architecture="korean_mobilenetv3_bilstm"), tmp_path / "coarse" / MODEL_FILE)
    assert load_checkpoint(tmp_path / "coarse" / MODEL_FILE).build().sequence_stride == 8

    init = ["--init", str(tmp_path / "coarse" / MODEL_FILE)]
    train(_args(tmp_path / "second", "--steps", "1", "--val-every", "1", *init))
    continued = load_checkpoint(tmp_path / "second" / MODEL_FILE)
    assert continued.architecture == fine.architecture
    assert continued.build().sequence_stride == 4


def test_a_ppocr_body_fine_tunes_from_a_frozen_prefix(tmp_path: Path) -> None:
    """--init-ppocr starts the Korean head on a PP-OCR recognizer's body; --frozen-stages keeps the
    first stages as they were imported while the rest moves; the result exports as that model."""
    source_charset = [*"abcABC123", " "]
    torch.manual_seed(0)
    source = PPOCRv4Recognizer(len(source_charset) + 1)
    source_path = tmp_path / "source" / "text_recognition_ch.pt"
    source_path.parent.mkdir()
    save_checkpoint(
        Checkpoint("text_recognition_ch", "ppocrv4_mobile_rec", source.state_dict(), source_charset, "test"),
        source_path,
    )
    out = tmp_path / "run"
    flags = ["--architecture", "korean_ppocrv4_rec", "--init-ppocr", str(source_path)]
    flags += ["--frozen-stages", "4", "--body-lr-scale", "0.5", "--photo", "0.5", "--steps", "2"]
    history = train(_args(out, *flags, "--val-every", "2"))
    assert len(history["train"]) == 2
    trained = load_checkpoint(out / MODEL_FILE)
    assert trained.architecture == "korean_ppocrv4_rec" and "from sha256:" in trained.source
    state = source.state_dict()
    for name in ("backbone.stem.conv.weight", "backbone.stages.3.4.pointwise.conv.weight"):
        torch.testing.assert_close(trained.state_dict[name], state[name], rtol=0, atol=0)
    moved = (
        trained.state_dict["backbone.stages.4.3.pointwise.conv.weight"]
        - state["backbone.stages.4.3.pointwise.conv.weight"]
    )
    assert moved.abs().max() > 0
    assert isinstance(trained.build(), KoreanPPOCRRecognizer)
