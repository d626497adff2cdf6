import numpy as np

from ocrstack.pipeline.reading_order import reading_order


def box(x: float, y: float, w: float = 50, h: float = 20) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def test_lines_top_to_bottom_then_left_to_right():
    # Two lines; on each the boxes jitter vertically by a few pixels.
    layout = [box(300, 103), box(10, 100), box(160, 96), box(10, 200), box(170, 205)]
    quads = np.stack(layout)
    rng = np.random.default_rng(3)
    for _ in range(10):
        shuffled = rng.permutation(len(layout))
        order = reading_order(quads[shuffled])
        assert [int(shuffled[i]) for i in order] == [1, 2, 0, 3, 4]


def test_tolerance_boundary():
    same_line = np.stack([box(200, 100), box(10, 109)])  # 9 px apart: one line
    assert reading_order(same_line) == [1, 0]
    next_line = np.stack([box(200, 100), box(10, 110)])  # 10 px apart: the next line
    assert reading_order(next_line) == [0, 1]
    assert reading_order(next_line, line_tolerance=11) == [1, 0]


def test_empty_and_single():
    assert reading_order(np.zeros((0, 4, 2), dtype=np.float32)) == []
    assert reading_order(box(5, 5)[None]) == [0]


def test_column_of_lines():
    quads = np.stack([box(10, 10 + 30 * i) for i in range(6)][::-1])
    assert reading_order(quads) == [5, 4, 3, 2, 1, 0]
