"""Crops that are not one tight line: where their rows of text are, and how the readings join."""

from __future__ import annotations

import numpy as np
import pytest

from ocrstack.pipeline.crop_layout import CropRows, bordered, lay_out, text_rows, wants_detection


def quad(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def quads(*boxes: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray([quad(*box) for box in boxes], np.float32).reshape(-1, 4, 2)


def bounds(rows: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """The rows text_rows found, rounded; None (the crop read whole) fails the test."""
    assert rows is not None, "no rows: the crop would be read whole"
    return [tuple(round(v) for v in (*row.min(axis=0), *row.max(axis=0))) for row in rows]


def test_columns_are_turned_before_reading() -> None:
    column = np.zeros((90, 30, 3), np.uint8)
    column[0, 0] = 255
    row, orientation = lay_out(column, "auto")
    assert orientation == "vertical" and row.shape[:2] == (30, 90)
    assert row[-1, 0].tolist() == [255, 255, 255]  # the top of the column now starts the row
    assert lay_out(np.zeros((30, 90, 3), np.uint8), "auto")[1] == "horizontal"
    assert lay_out(column, "horizontal")[1] == "horizontal"
    with pytest.raises(ValueError, match="orientation"):
        lay_out(column, "diagonal")


def test_a_crop_is_read_whole_when_nothing_is_found_or_one_row_fills_it() -> None:
    assert text_rows(quads(), (30, 120)) is None
    assert text_rows(quads((4, 2, 116, 28)), (30, 120)) is None
    # Two words of one line, found apart, still fill the crop together.
    assert text_rows(quads((4, 2, 60, 28), (64, 3, 116, 27)), (30, 120)) is None


def test_a_row_with_room_above_and_below_is_cut_out_as_a_button_label() -> None:
    # A button: the label spans the width but under 0.8 of the height; cut with a tenth of its height.
    (label,) = bounds(text_rows(quads((4, 8, 116, 23)), (30, 120)))
    assert label == (2, 6, 118, 24)


def test_padding_and_an_emblem_are_left_out() -> None:
    # A plate in a black frame: one row of text, a sixth of the crop's height.
    (plate,) = bounds(text_rows(quads((10, 92, 240, 130)), (224, 256)))
    assert plate == (6, 88, 244, 134)  # the row with a tenth of its height as margin
    # A logo: the emblem on the left is no text.
    (name,) = bounds(text_rows(quads((40, 5, 118, 22)), (31, 119)))
    assert name[0] > 30 and name[2] == 119


def test_small_print_beside_large_letters_is_a_row_of_its_own_read_after_them() -> None:
    rows = bounds(text_rows(quads((224, 26, 353, 38), (19, 3, 226, 42)), (57, 379)))
    assert len(rows) == 2
    large, small = rows
    assert large[0] < small[0]  # left to right
    assert large[2] == 226 and small[0] == 224  # no margin grows into the neighbour


def test_rows_above_each_other_are_read_top_down_and_boxes_inside_others_dropped() -> None:
    found = quads((10, 60, 200, 90), (10, 10, 200, 40), (50, 15, 60, 30))
    rows = bounds(text_rows(found, (100, 210)))
    assert [row[1] < 40 for row in rows] == [True, False]


def test_readings_of_a_whole_crop_are_kept_and_rows_are_joined_with_spaces() -> None:
    crops = [np.zeros((30, 120, 3), np.uint8), np.zeros((57, 379, 3), np.uint8)]
    found = [None, text_rows(quads((224, 26, 353, 38), (19, 3, 226, 42)), (57, 379))]
    expanded = CropRows.expand(crops, "auto", found)
    assert expanded.owners == [0, 1, 1] and expanded.split == [False, True]
    assert [row.shape[0] for row in expanded.rows[1:]] == [46, 16]  # with their margins
    joined = expanded.join([(" whole ", 0.5), ("eGov", 0.9), ("전자정부", 0.7)])
    assert joined[0] == (" whole ", 0.5)
    assert joined[1][0] == "eGov 전자정부" and joined[1][1] == pytest.approx((0.9 * 4 + 0.7 * 4) / 8)
    assert expanded.join([("x", 0.5), ("", 0.2), (" ", 0.3)])[1] == ("", 0.3)


def test_only_crops_read_horizontally_go_to_the_detector() -> None:
    line, column = np.zeros((30, 120, 3), np.uint8), np.zeros((120, 30, 3), np.uint8)
    assert wants_detection(line, "auto", "auto") and not wants_detection(line, "auto", "line")
    assert not wants_detection(column, "auto", "auto") and wants_detection(column, "horizontal", "auto")
    with pytest.raises(ValueError, match="layout"):
        wants_detection(line, "auto", "page")


def test_the_detector_sees_the_crop_with_its_edges_repeated() -> None:
    crop = np.arange(30 * 120 * 3, dtype=np.uint32).astype(np.uint8).reshape(30, 120, 3)
    view, border = bordered(crop)
    assert border == 8 and view.shape[:2] == (46, 136)
    assert np.array_equal(view[border:-border, border:-border], crop)
    assert np.array_equal(view[0, border:-border], crop[0])
