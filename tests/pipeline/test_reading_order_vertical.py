"""Reading order on pages with vertical columns, on hand-made boxes given in shuffled order."""

from __future__ import annotations

import numpy as np
import pytest

from ocrstack.pipeline.reading_order import SAME_LINE_TOLERANCE, may_be_column, reading_order


def box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def column(x: float, y: float = 100, h: float = 300) -> np.ndarray:
    """A column of vertical text 40 px wide."""
    return box(x, y, 40, h)


def read(layout: list[np.ndarray], seed: int = 0, times: int = 10) -> list[int]:
    """The reading order of ``layout`` as indices into it; the same for every shuffled input order."""
    quads = np.stack(layout)
    rng = np.random.default_rng(seed)
    orders = set()
    for _ in range(times):
        shuffled = rng.permutation(len(layout))
        orders.add(tuple(int(shuffled[i]) for i in reading_order(quads[shuffled])))
    assert len(orders) == 1, orders
    return list(orders.pop())


def legacy_reading_order(quads: np.ndarray, line_tolerance: float = SAME_LINE_TOLERANCE) -> list[int]:
    """The order before vertical blocks, which pages without vertical lines must keep exactly."""
    corners = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)[:, 0, :]
    order = sorted(range(len(corners)), key=lambda i: (corners[i, 1], corners[i, 0]))
    for position in range(1, len(order)):
        while position > 0:
            before, current = corners[order[position - 1]], corners[order[position]]
            if abs(current[1] - before[1]) >= line_tolerance or current[0] >= before[0]:
                break
            order[position - 1], order[position] = order[position], order[position - 1]
            position -= 1
    return order


def test_columns_of_a_vertical_page_are_read_right_to_left() -> None:
    # Columns 0..3 from the right, 15 px apart; the first starts a paragraph one character lower.
    layout = [column(400, y=130, h=270), column(345), column(290), column(235, h=120)]
    assert read(layout) == [0, 1, 2, 3]


def test_a_single_column() -> None:
    assert reading_order(column(100)[None]) == [0]


def test_a_horizontal_title_above_and_a_caption_below_a_vertical_block() -> None:
    layout = [
        box(100, 20, 180, 40),  # 0: title, left word
        box(300, 24, 200, 40),  # 1: title, right word on the same line
        column(400),  # 2: rightmost column
        column(345),  # 3
        column(290),  # 4
        box(230, 430, 250, 30),  # 5: caption
    ]
    assert read(layout) == [0, 1, 2, 3, 4, 5]


def test_two_vertical_blocks_side_by_side_are_read_right_to_left() -> None:
    # A gutter of 200 px (five column widths) splits them into two blocks.
    left_block = [column(100), column(155), column(210)]
    right_block = [column(450, y=110), column(505, y=110), column(560, y=110)]
    assert read(left_block + right_block) == [5, 4, 3, 2, 1, 0]


def test_a_horizontal_line_left_of_a_vertical_block_is_read_first() -> None:
    layout = [column(400), column(345), box(20, 180, 200, 30)]
    assert read(layout) == [2, 0, 1]


def test_a_horizontal_line_right_of_a_vertical_block_is_read_after_it() -> None:
    layout = [column(400), column(345), box(500, 90, 200, 30)]
    assert read(layout) == [0, 1, 2]


def test_pieces_of_one_column_are_read_top_to_bottom_before_the_next_column() -> None:
    layout = [column(400), column(345, h=120), column(346, y=250, h=150), column(290)]
    assert read(layout) == [0, 1, 2, 3]


def test_a_one_character_column_is_read_last_in_its_block() -> None:
    # The last column of a paragraph holds one character: a square box the pipeline reads as horizontal.
    layout = [column(400), column(345), box(290, 100, 40, 40)]
    assert read(layout) == [0, 1, 2]


def test_a_word_split_into_a_square_and_a_tall_character_reads_left_to_right() -> None:
    # Seen on a real screenshot: a highlighted two-syllable word detected as two boxes, the second one
    # tall enough to count as vertical. A lone vertical box does not take the square beside it.
    layout = [box(215, 394, 51, 36), box(273, 393, 13, 18), box(290, 395, 18, 31)]
    assert read(layout) == [0, 1, 2]


def test_a_wide_box_beside_a_block_is_not_taken_for_a_column() -> None:
    layout = [column(400), column(345), box(235, 100, 100, 90)]  # square, but 2.5 columns wide
    assert read(layout) == [2, 0, 1]


def test_upper_tier_of_vertical_blocks_is_read_before_the_lower() -> None:
    upper = [column(300, y=20, h=200), column(245, y=20, h=200)]
    lower = [column(300, y=260, h=200), column(245, y=260, h=200)]
    assert read(upper + lower) == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(20))
def test_pages_without_vertical_lines_keep_the_order_they_had(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 25))
    corners = rng.uniform(0, 600, size=(count, 2))
    heights = rng.uniform(12, 40, size=count)
    widths = heights * rng.uniform(0.7, 12, size=count)  # from one character to long lines
    quads = np.stack([box(x, y, w, h) for (x, y), w, h in zip(corners, widths, heights, strict=True)])
    assert reading_order(quads) == legacy_reading_order(quads)
    assert reading_order(quads, line_tolerance=25) == legacy_reading_order(quads, line_tolerance=25)


@pytest.mark.parametrize("seed", range(20))
def test_on_mixed_pages_lines_keep_their_order_and_every_line_comes_back_once(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    layout = []
    for _ in range(int(rng.integers(2, 30))):
        x, y = rng.uniform(0, 600, size=2)
        if rng.random() < 0.3:
            width = rng.uniform(20, 45)
            layout.append(box(x, y, width, width * rng.uniform(1.6, 10)))
        else:
            height = rng.uniform(12, 40)
            layout.append(box(x, y, height * rng.uniform(1.3, 12), height))  # no squares
    quads = np.stack(layout)
    order = reading_order(quads)
    assert sorted(order) == list(range(len(layout)))
    lines = [i for i in range(len(layout)) if not may_be_column(quads[i])]
    assert [i for i in order if i in lines] == [lines[k] for k in legacy_reading_order(quads[lines])]
