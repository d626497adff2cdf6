"""Reading order of detected lines: top to bottom, then left to right along a line."""

from __future__ import annotations

import numpy as np

# Top-left corners closer than this vertically (in image pixels) are taken as one line, as PP-OCR
# style pipelines do; it absorbs the jitter of boxes around characters of different heights.
SAME_LINE_TOLERANCE = 10.0


def reading_order(quads: np.ndarray, line_tolerance: float = SAME_LINE_TOLERANCE) -> list[int]:
    """Indices of ordered quads (N x 4 x 2, tl first) in reading order.

    Boxes are sorted by their top-left corner (y, then x); then each box moves ahead of the boxes
    before it that sit on the same line (top-left y within ``line_tolerance``) but further right.
    """
    corners = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)[:, 0, :]
    order = sorted(range(len(corners)), key=lambda i: (corners[i, 1], corners[i, 0]))
    for position in range(1, len(order)):
        # Insertion step: stop at the first neighbour that is on another line or already to the left.
        while position > 0:
            before, current = corners[order[position - 1]], corners[order[position]]
            if abs(current[1] - before[1]) >= line_tolerance or current[0] >= before[0]:
                break
            order[position - 1], order[position] = order[position], order[position - 1]
            position -= 1
    return order
