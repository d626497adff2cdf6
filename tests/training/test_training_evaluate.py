"""Metrics on crafted strings, the held-out font split, and evaluation of a model on the test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ocrstack.config import KOREAN_RECOGNIZERS
from ocrstack.models.korean_rec import KoreanRecognizer
from ocrstack.pipeline.preprocess import choose_width_bucket
from ocrstack.synth.fonts import FontFace
from ocrstack.weights.checkpoint import Checkpoint, save_checkpoint
from training.charset import load_charset
from training.evaluate import (
    HELDOUT_FAMILIES,
    batch_width,
    character_error_rate,
    choose_heldout,
    edit_distance,
    evaluate,
    family_of,
    heldout_set,
    line_accuracy,
    main,
    read_lines,
    split_fonts,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "한국", 2),
        ("한국어", "한국어", 0),
        ("한국어", "한글어", 1),
        ("kitten", "sitting", 3),
        ("안녕하세요", "안녕세요", 1),
        ("ab", "ba", 2),
    ],
)
def test_edit_distance(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_line_accuracy() -> None:
    assert line_accuracy(["한국", "어", "x"], ["한국", "어", "y"]) == pytest.approx(2 / 3)
    assert line_accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        line_accuracy(["a"], [])


def test_cer_is_summed_not_averaged() -> None:
    # 1 error in a 1-char line and 0 in a 9-char line: 1/10, not the mean of per-line rates (0.5).
    assert character_error_rate(["x", "123456789"], ["y", "123456789"]) == pytest.approx(0.1)
    assert character_error_rate(["", ""], ["가나", "다"]) == pytest.approx(1.0)
    assert character_error_rate(["가나다라"], ["가나"]) == pytest.approx(1.0)
    assert character_error_rate([""], [""]) == 0.0
    assert character_error_rate(["ab"], [""]) == 2.0


def test_split_holds_out_whole_families() -> None:
    train, heldout = split_fonts()
    train_families = {family_of(f) for f in train}
    heldout_families = {family_of(f) for f in heldout}
    assert len(heldout_families) >= 2
    assert train_families and not train_families & heldout_families
    assert not {f.path for f in train} & {f.path for f in heldout}
    assert split_fonts() == (train, heldout)


def test_split_fails_with_too_few_families() -> None:
    faces = [FontFace(Path(f"/f/{n}.ttf"), 0, (n,)) for n in ("A", "B")]
    with pytest.raises(RuntimeError, match="at least 3"):
        split_fonts(faces)


def test_split_stands_in_when_wanted_families_are_missing() -> None:
    faces = [FontFace(Path(f"/f/{n}{w}.ttf"), 0, (n,)) for n in ("A", "B", "C", "D") for w in ("", "Bold")]
    train, heldout = split_fonts(faces)
    assert {family_of(f) for f in heldout} == {"C", "D"}
    assert len(heldout) == 4 and len(train) == 4  # every weight goes with its family
    assert choose_heldout(["A", "UnBatang", "Z"]) == ["UnBatang", "Z"]
    assert choose_heldout([*HELDOUT_FAMILIES, "A"]) == list(HELDOUT_FAMILIES)


def test_heldout_set_is_deterministic_and_prefix_stable() -> None:
    a = heldout_set(False, count=3, max_chars=4)
    b = heldout_set(False, count=2, max_chars=4)
    for (img_a, text_a), (img_b, text_b) in zip(a, b, strict=False):
        assert text_a == text_b
        np.testing.assert_array_equal(img_a, img_b)


def test_batch_width() -> None:
    cfg = KOREAN_RECOGNIZERS["horizontal"]
    crops = [np.zeros((48, 100, 3), np.uint8), np.zeros((24, 170, 3), np.uint8)]  # 100 and 340 wide
    assert batch_width(crops, cfg, buckets=True) == 480
    assert batch_width(crops, cfg, buckets=False) == 344
    assert batch_width([np.zeros((48, 5000, 3), np.uint8)], cfg, buckets=False) == cfg.max_width


def test_evaluate_untrained_model() -> None:
    torch.manual_seed(0)
    charset = load_charset("korean")
    model = KoreanRecognizer(len(charset) + 1)
    samples = heldout_set(True, count=3, max_chars=3)
    metrics = evaluate(model, samples, KOREAN_RECOGNIZERS["vertical"], batch_size=2, buckets=False)
    assert metrics["count"] == 3
    assert 0.0 <= metrics["line_accuracy"] <= 1.0 and metrics["cer"] >= 0.0
    assert model.training  # left as it was


class _WidthReader(torch.nn.Module):
    """Reads every crop as one character: the first of the charset for a light crop, else the
    second; records the width of each batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.widths.append(images.shape[3])
        probs = torch.zeros(images.shape[0], 1, 3)
        probs[:, 0, 1] = (images[:, 0, 0, 0] > 0).float()
        probs[:, 0, 2] = (images[:, 0, 0, 0] <= 0).float()
        return probs


def test_read_lines_pads_each_crop_to_its_own_width_and_keeps_the_order() -> None:
    cfg = KOREAN_RECOGNIZERS["horizontal"]
    light, dark = np.full((48, 100, 3), 255, np.uint8), np.zeros((48, 600, 3), np.uint8)
    reader = _WidthReader()
    texts = read_lines(reader, [dark, light, dark, light], cfg, batch_size=64, charset=["가", "나"])
    assert texts == ["나", "가", "나", "가"]
    # one batch per bucket (the light crop's is the narrower), none padded to a wider batchmate
    assert reader.widths == [choose_width_bucket(48, 100, cfg), 640] and reader.widths[0] < 640
    reader.widths.clear()
    read_lines(reader, [dark, light], cfg, batch_size=64, charset=["가", "나"], buckets=False)
    assert reader.widths == [104, 600]


def test_command_reports_heldout_figures_of_a_checkpoint(tmp_path: Path, monkeypatch) -> None:
    config = KOREAN_RECOGNIZERS["vertical"]
    charset = load_charset("korean")
    model = KoreanRecognizer(len(charset) + 1)
    save_checkpoint(
        Checkpoint(config.name, config.architecture, model.state_dict(), charset), tmp_path / "m.pt"
    )
    monkeypatch.setenv("OCRSTACK_REAL_DATA", str(tmp_path / "no_real_set"))
    out = tmp_path / "figures.json"
    main([str(tmp_path / "m.pt"), "--orientation", "vertical", "--count", "3", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["heldout"]["count"] == 3 and figures["heldout"]["cer"] >= 0.0
    assert "real_crops" not in figures
