from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocrstack.synth.fonts import FontFace
from ocrstack.synth.render import text_mask
from tests.synth.test_synth_bitmap_fonts import GLYPHS, write_pcf
from training import evaluate, synth_lines
from training.charset import load_charset, out_of_charset
from training.synth_lines import MIN_LUMA_CONTRAST, SyntheticLines, pick_colors

N = 24


@pytest.fixture(scope="module", params=[False, True], ids=["horizontal", "vertical"])
def samples(request: pytest.FixtureRequest) -> tuple[bool, list[tuple[np.ndarray, str]]]:
    lines = SyntheticLines(3, vertical=request.param)
    return request.param, [lines[i] for i in range(N)]


def test_same_seed_same_bytes(samples: tuple[bool, list[tuple[np.ndarray, str]]]) -> None:
    vertical, drawn = samples
    again = SyntheticLines(3, vertical=vertical)
    for index in (0, 5, N - 1):
        image, text = again[index]
        assert text == drawn[index][1] and image.tobytes() == drawn[index][0].tobytes()
    other = SyntheticLines(4, vertical=vertical)
    assert [other[i][1] for i in range(5)] != [text for _, text in drawn[:5]]


def test_iteration_matches_indexing() -> None:
    lines = SyntheticLines(9)
    iterator = iter(lines)
    for index in range(3):
        image, text = next(iterator)
        assert text == lines[index][1] and np.array_equal(image, lines[index][0])


def test_shapes_labels_and_contrast(samples: tuple[bool, list[tuple[np.ndarray, str]]]) -> None:
    _vertical, drawn = samples
    charset = load_charset()
    for image, text in drawn:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[0] == 48 and image.shape[2] == 3
        assert text and out_of_charset(text, charset) == []
        if len(text) >= 3:  # a column turned into a row, never left standing
            assert image.shape[1] > image.shape[0]
        assert image.std() > 12, text  # the text stands out from its background


def test_colors_keep_contrast() -> None:
    rng = np.random.default_rng(0)
    weights = np.array([0.299, 0.587, 0.114])
    for _ in range(300):
        fg, bg, bg_end = pick_colors(rng)
        assert abs(fg @ weights - bg @ weights) >= MIN_LUMA_CONTRAST
        assert abs(fg @ weights - bg_end @ weights) >= MIN_LUMA_CONTRAST


def test_letter_spacing_widens_lines_without_changing_the_text() -> None:
    # Same seed and the same draws; only the extra spacing the draws are mapped to differs.
    fonts_own, spaced = (SyntheticLines(5, letter_spacing=(t, t), max_chars=8) for t in (0.0, 0.4))
    widths = []
    for index in range(16):
        (own_image, own_text), (spaced_image, spaced_text) = fonts_own[index], spaced[index]
        assert own_text == spaced_text
        widths.append((own_image.shape[1], spaced_image.shape[1]))
    assert all(wide >= own for own, wide in widths)
    assert sum(wide > 1.2 * own for own, wide in widths) >= 4  # about half the samples are spaced


def test_photo_like_lines_are_deterministic_rows_of_the_line_height() -> None:
    lines = SyntheticLines(5, photo=1.0)
    again = SyntheticLines(5, photo=1.0)
    charset = load_charset("korean")
    for index in range(12):
        image, text = lines[index]
        assert image.dtype == np.uint8 and image.shape[0] == 48 and image.shape[2] == 3
        assert text and not out_of_charset(text, charset)
        repeat, same = again[index]
        assert same == text and repeat.tobytes() == image.tobytes()


def test_without_photo_lines_a_generator_draws_what_it_drew_before() -> None:
    """The held-out set is drawn with photo=0: asking for photo-like lines elsewhere must not move it."""
    plain, mixed = SyntheticLines(3), SyntheticLines(3, photo=0.0)
    assert [plain[i][1] for i in range(6)] == [mixed[i][1] for i in range(6)]
    with pytest.raises(ValueError, match="share"):
        SyntheticLines(3, photo=1.5)


def test_a_stacked_region_name_takes_one_cell_with_a_syllable_in_each_half() -> None:
    lines = SyntheticLines(5, photo=1.0)
    face = lines.fonts_for("서울12가3456")[0]
    rng = np.random.default_rng(0)
    stacked = lines._stacked_region_mask("서울12가3456", face, 0.0, rng)
    inline = text_mask("서울12가3456", face.path, 48, False, face.index)
    assert stacked.shape[0] == 48 and stacked.shape[1] < inline.shape[1]
    blank = np.flatnonzero(~stacked.any(axis=0))
    cell = stacked[:, : blank[0]]  # the region's cell ends at the first blank column
    assert cell.shape[1] <= 0.9 * 48
    assert cell[:20].any() and cell[28:].any()  # one syllable above the other


def test_only_plates_with_a_region_name_are_stacked() -> None:
    lines = SyntheticLines(5, photo=1.0)
    draws = [
        lines._stacks_region(text, np.random.default_rng(seed))
        for seed in range(40)
        for text in ("서울12가3456", "12가3456", "서울역 앞")
    ]
    plates, bare, words = draws[0::3], draws[1::3], draws[2::3]
    assert any(plates) and not all(plates)
    assert not any(bare) and not any(words)
    assert not SyntheticLines(5, vertical=True, photo=1.0)._stacks_region(
        "서울12가3456", np.random.default_rng(1)
    )


def test_screen_lines_are_deterministic_rows_of_the_line_height(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth_lines, "SCREEN_SHARE", 1.0)
    lines, again = SyntheticLines(6, photo=1.0), SyntheticLines(6, photo=1.0)
    for index in range(8):
        image, text = lines[index]
        assert image.dtype == np.uint8 and image.shape[0] == 48 and text
        assert again[index][0].tobytes() == image.tobytes()


def test_bitmap_lines_set_covered_text_in_the_strike_and_fall_back_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strike = tmp_path / "small.pcf"
    write_pcf(strike, GLYPHS)
    monkeypatch.setattr(synth_lines, "BITMAP_SHARE", 1.0)
    lines = SyntheticLines(6, photo=1.0, bitmap_fonts=[strike])
    face = lines.fonts_for("가나")[0]
    row = lines._bitmap_line("가나 x7", face, np.random.default_rng(3))
    assert row is not None and row.dtype == np.uint8 and row.shape[0] == 48
    assert row.shape[1] > 48 and row.std() > 10  # a line with ink, upscaled from a 4-pixel strike
    assert lines._bitmap_line("가다", face, np.random.default_rng(3)) is None  # 다 is not in the strike
    again = SyntheticLines(6, photo=1.0, bitmap_fonts=[strike])
    for index in range(6):  # lines the strike cannot set are drawn as before: still deterministic
        image, text = lines[index]
        assert image.shape[0] == 48 and text
        assert again[index][0].tobytes() == image.tobytes()
    assert not SyntheticLines(6, vertical=True, photo=1.0, bitmap_fonts=[strike])._draws_bitmap(
        np.random.default_rng(0)
    )


def test_training_strikes_leave_out_the_held_out_families(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, kept = tmp_path / "dotum.pcf", tmp_path / "gulim.pcf"
    write_pcf(held, GLYPHS, foundry="Baekmuk", family="Dotum")
    write_pcf(kept, GLYPHS, foundry="Baekmuk", family="Gulim")
    monkeypatch.setattr(evaluate, "installed_bitmap_fonts", lambda: [held, kept])
    heldout = [FontFace(tmp_path / "dotum.ttf", 0, ("Baekmuk Dotum",))]
    assert evaluate.training_bitmap_fonts(heldout) == [kept]
