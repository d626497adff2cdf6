"""Lines -> paragraphs and orientation, on hand-made boxes."""

from __future__ import annotations

import numpy as np

from gateway.layout import join_lines, orientation_of, paragraphs


def box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_orientation_follows_the_box_shape() -> None:
    assert orientation_of(box(0, 0, 200, 30)) == "horizontal"
    assert orientation_of(box(0, 0, 30, 200)) == "vertical"


def test_lines_of_a_block_join_and_distant_or_different_lines_do_not() -> None:
    quads = np.stack(
        [
            box(10, 10, 300, 30),  # 0: heading-sized? no: same height as the body
            box(10, 48, 280, 30),  # 1: next line of the block (gap 8 px)
            box(10, 86, 150, 30),  # 2: last line of the block
            box(10, 300, 300, 30),  # 3: far below: a new paragraph
            box(400, 340, 100, 60),  # 4: twice as tall: a new paragraph
            box(10, 338, 300, 30),  # 5: right after 3 in the list, but 4 sits between in the order given
        ]
    )
    orientations = ["horizontal"] * 6
    assert paragraphs(quads, orientations) == [[0, 1, 2], [3], [4], [5]]


def test_lines_side_by_side_do_not_join() -> None:
    quads = np.stack([box(10, 10, 100, 30), box(400, 45, 100, 30)])  # below, but no horizontal overlap
    assert paragraphs(quads, ["horizontal"] * 2) == [[0], [1]]


def test_vertical_columns_join_right_to_left() -> None:
    quads = np.stack([box(300, 10, 30, 200), box(262, 10, 30, 180), box(100, 10, 30, 200)])
    assert paragraphs(quads, ["vertical"] * 3) == [[0, 1], [2]]


def test_mixed_orientations_never_join() -> None:
    quads = np.stack([box(10, 10, 200, 30), box(10, 45, 30, 200)])
    assert paragraphs(quads, ["horizontal", "vertical"]) == [[0], [1]]


def test_join_lines_uses_no_space_for_chinese() -> None:
    assert join_lines(["Hello", " world "], "en") == "Hello world"
    assert join_lines(["你好", "世界"], "zh") == "你好世界"
    assert paragraphs(np.zeros((0, 4, 2), np.float32), []) == []
