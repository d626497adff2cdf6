"""Lines -> paragraphs: consecutive lines (in reading order) that read as one block of text.

Translating a paragraph rather than its lines one by one gives the translator whole sentences. Two
consecutive lines join when they have the same orientation, similar text heights, and the second
continues the first as the next line of a block: just below it (beside it, to the left, for vertical
columns, which run right to left) and overlapping it along the line direction. A box about as wide as tall
(a column of one character, which the pipeline reads as horizontal) may continue a vertical paragraph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ocrstack.pipeline.reading_order import is_vertical_quad, may_be_column

# Gap between two lines of one paragraph, in units of the text height: ordinary leading is 0.2-0.8.
MAX_LINE_GAP = 1.0
MAX_HEIGHT_RATIO = 1.5  # a heading above body text starts a new paragraph
MIN_OVERLAP = 0.3  # of the shorter line's extent along the line direction


def orientation_of(quad: np.ndarray) -> str:
    """ "vertical" or "horizontal", decided by the box's shape exactly as the pipeline decides it."""
    return "vertical" if is_vertical_quad(quad) else "horizontal"


@dataclass(frozen=True)
class _Extent:
    along: tuple[float, float]  # along the line direction (x for rows, y for columns)
    across: tuple[float, float]  # across it (y for rows, x for columns)
    size: float  # text height (row height, column width)


def _extent(quad: np.ndarray, orientation: str) -> _Extent:
    xs, ys = quad[:, 0], quad[:, 1]
    x, y = (float(xs.min()), float(xs.max())), (float(ys.min()), float(ys.max()))
    if orientation == "vertical":
        return _Extent(along=y, across=x, size=x[1] - x[0])
    return _Extent(along=x, across=y, size=y[1] - y[0])


def continues(previous: np.ndarray, current: np.ndarray, orientation: str) -> bool:
    """Whether ``current`` is the next line of the paragraph ending with ``previous``."""
    a, b = _extent(previous, orientation), _extent(current, orientation)
    if min(a.size, b.size) <= 0 or max(a.size, b.size) / min(a.size, b.size) > MAX_HEIGHT_RATIO:
        return False
    size = max(a.size, b.size)
    # Rows stack downwards; columns are read right to left, so the next one lies to the left.
    gap = b.across[0] - a.across[1] if orientation == "horizontal" else a.across[0] - b.across[1]
    if not -0.5 * size <= gap <= MAX_LINE_GAP * size:
        return False
    overlap = min(a.along[1], b.along[1]) - max(a.along[0], b.along[0])
    return overlap >= MIN_OVERLAP * min(a.along[1] - a.along[0], b.along[1] - b.along[0])


def shared_orientation(
    previous: np.ndarray, current: np.ndarray, orientations: tuple[str, str]
) -> str | None:
    """The direction two consecutive lines can continue each other in: their common orientation, or
    "vertical" when one is a vertical column and the other may be a column of one character; None when
    they cannot be one paragraph."""
    if orientations[0] == orientations[1]:
        return orientations[0]
    other = current if orientations[0] == "vertical" else previous
    return "vertical" if may_be_column(other) else None


def paragraphs(quads: np.ndarray, orientations: Sequence[str]) -> list[list[int]]:
    """Line indices grouped into paragraphs; lines are taken in the given (reading) order."""
    groups: list[list[int]] = []
    for index in range(len(orientations)):
        if groups and _joins(quads, orientations, groups[-1][-1], index):
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _joins(quads: np.ndarray, orientations: Sequence[str], last: int, index: int) -> bool:
    previous, current = np.asarray(quads[last]), np.asarray(quads[index])
    direction = shared_orientation(previous, current, (orientations[last], orientations[index]))
    return direction is not None and continues(previous, current, direction)


def join_lines(texts: Sequence[str], language: str) -> str:
    """A paragraph's text: lines joined by a space, or directly for Chinese, which uses none."""
    separator = "" if language.startswith("zh") else " "
    return separator.join(t.strip() for t in texts if t.strip())
