"""Reading order of detected lines, as a reader scans a page.

Horizontal lines are read top to bottom, and left to right along a line. Vertical columns (boxes taller
than wide by ``VERTICAL_ASPECT_RATIO``, decided from the crop's shape exactly as the pipeline decides it)
that sit side by side form a vertical block, whose columns are read right to left, each top to bottom.
Blocks are read top to bottom, and blocks side by side right to left like the columns inside one, so that
a vertical page reads the same whether its gutters split it into one block or several. The two sequences
are then merged as a reader scans the page: a block comes before the first line that lies below it or
beside it to its right. Horizontal lines keep the order they have without any vertical line (so a page
without vertical lines is ordered exactly as before vertical blocks were known).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

from ocrstack.pipeline.geometry import is_vertical, quad_size

# Top-left corners closer than this vertically (in image pixels) are taken as one line, as PP-OCR
# style pipelines do; it absorbs the jitter of boxes around characters of different heights.
SAME_LINE_TOLERANCE = 10.0
# Neighbouring columns of one vertical block: the gap between them is at most this many column widths
# (ordinary leading is 0.2-0.8), and they share at least this part of the shorter one's height (a
# paragraph's short last column still shares all of its own).
MAX_COLUMN_GAP = 1.0
MIN_SIDE_OVERLAP = 0.5
# A column of one character is about square, so the pipeline reads it as horizontal; a box at least
# this tall for its width may still be a column, and joins a vertical block of two columns or more that
# it sits beside when it is no wider than MAX_WIDTH_RATIO times the column next to it.
MIN_COLUMN_ASPECT = 0.8
MAX_WIDTH_RATIO = 1.5


@dataclass(frozen=True)
class Box:
    """An axis-aligned extent in image pixels."""

    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def around(cls, quad: np.ndarray) -> Box:
        xs, ys = quad[:, 0], quad[:, 1]
        return cls(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def union(self, other: Box) -> Box:
        return Box(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
        )


def is_vertical_quad(quad: np.ndarray) -> bool:
    """Whether an ordered quad (tl, tr, br, bl) holds a vertical line, decided by its crop's shape."""
    width, height = quad_size(quad)
    return is_vertical(height, width)


def may_be_column(quad: np.ndarray) -> bool:
    """Whether an ordered quad may be a column of vertical text: vertical, or about square (one character)."""
    width, height = quad_size(quad)
    return is_vertical(height, width) or height >= MIN_COLUMN_ASPECT * width


def side_overlap(a: Box, b: Box) -> float:
    """The height two boxes share, as a part of the shorter one's height (0 when either is flat)."""
    shorter = min(a.height, b.height)
    shared = min(a.bottom, b.bottom) - max(a.top, b.top)
    return max(shared, 0.0) / shorter if shorter > 0 else 0.0


def beside(a: Box, b: Box) -> bool:
    """Whether two boxes sit side by side: they share ``MIN_SIDE_OVERLAP`` of the shorter one's height."""
    return side_overlap(a, b) >= MIN_SIDE_OVERLAP


def neighbour_columns(a: Box, b: Box, a_vertical: bool, b_vertical: bool) -> bool:
    """Whether two column-like boxes, at least one of them vertical, are neighbouring columns of a block."""
    if not (a_vertical or b_vertical):
        return False
    if (not a_vertical and a.width > MAX_WIDTH_RATIO * b.width) or (
        not b_vertical and b.width > MAX_WIDTH_RATIO * a.width
    ):
        return False
    gap = max(a.left, b.left) - min(a.right, b.right)
    return beside(a, b) and gap <= MAX_COLUMN_GAP * max(a.width, b.width)


def columns_in_order(boxes: Sequence[Box], members: Sequence[int]) -> list[int]:
    """A block's columns right to left; pieces of one column (sharing half its width) top to bottom."""
    by_centre = sorted(members, key=lambda i: (-(boxes[i].left + boxes[i].right), boxes[i].top, i))
    tracks: list[list[int]] = []
    for index in by_centre:
        if tracks and _same_track(boxes[tracks[-1][-1]], boxes[index]):
            tracks[-1].append(index)
        else:
            tracks.append([index])
    return [i for track in tracks for i in sorted(track, key=lambda i: (boxes[i].top, i))]


def _same_track(a: Box, b: Box) -> bool:
    narrower = min(a.width, b.width)
    shared = min(a.right, b.right) - max(a.left, b.left)
    return narrower > 0 and shared >= 0.5 * narrower


def vertical_blocks(
    boxes: Sequence[Box], vertical: Sequence[bool], column_like: Sequence[bool]
) -> list[list[int]]:
    """Line indices of each vertical block, in reading order.

    Vertical lines linked as neighbouring columns, directly or through others, form a block. A block of
    two columns or more also takes the column-like boxes beside its columns (one-character columns); a
    lone vertical box does not, as beside a horizontal word it is more often one character of that word.
    """
    blocks = _chains(boxes, [i for i in range(len(boxes)) if vertical[i]])
    spare = [i for i in range(len(boxes)) if column_like[i] and not vertical[i]]
    ordered: list[list[int]] = []
    for block in blocks:
        if len(block) >= 2:
            joining = [
                i for i in spare if any(neighbour_columns(boxes[m], boxes[i], True, False) for m in block)
            ]
            spare = [i for i in spare if i not in joining]
            block += joining
        ordered.append(columns_in_order(boxes, block))
    return ordered


def _chains(boxes: Sequence[Box], members: Sequence[int]) -> list[list[int]]:
    """Vertical lines grouped by links between neighbouring columns, direct or through others."""
    groups: list[list[int]] = []
    remaining = list(members)
    while remaining:
        group = [remaining.pop(0)]
        for current in group:  # the group grows while it is walked: a breadth-first flood
            linked = [i for i in remaining if neighbour_columns(boxes[current], boxes[i], True, True)]
            remaining = [i for i in remaining if i not in linked]
            group += linked
        groups.append(group)
    return groups


def line_order(corners: np.ndarray, line_tolerance: float = SAME_LINE_TOLERANCE) -> list[int]:
    """Indices of horizontal lines, given by their top-left corners (N x 2), in reading order.

    Corners are sorted by y, then x; then each line moves ahead of the lines before it that sit on the same
    line (top-left y within ``line_tolerance``) but further right.
    """
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


def block_order(blocks: Sequence[Box]) -> list[int]:
    """Indices of vertical blocks in reading order: by top edge, and blocks side by side right to left."""
    order = sorted(range(len(blocks)), key=lambda i: (blocks[i].top, -blocks[i].right))
    for position in range(1, len(order)):
        # Insertion step as for lines: a block moves ahead of the blocks beside it further left.
        while position > 0:
            before, current = blocks[order[position - 1]], blocks[order[position]]
            if not beside(current, before) or current.right <= before.right:
                break
            order[position - 1], order[position] = order[position], order[position - 1]
            position -= 1
    return order


def block_first(block: Box, line: Box) -> bool:
    """Whether a reader meets a vertical block before a horizontal line: the line sits beside the block
    to its right, or, when they are not side by side, lower on the page."""
    if beside(block, line):
        return block.left < line.left
    return block.top < line.top


def merge(
    lines: Sequence[int], blocks: Sequence[Sequence[int]], boxes: Sequence[Box], extents: Sequence[Box]
) -> list[int]:
    """Ordered lines and ordered blocks (each a list of line indices, with its extent) as one sequence,
    keeping both orders: each block goes before the first line it comes before (``block_first``)."""
    merged: list[int] = []
    next_block = 0
    for line in lines:
        while next_block < len(blocks) and block_first(extents[next_block], boxes[line]):
            merged += blocks[next_block]
            next_block += 1
        merged.append(line)
    return merged + [i for block in blocks[next_block:] for i in block]


def reading_order(quads: np.ndarray, line_tolerance: float = SAME_LINE_TOLERANCE) -> list[int]:
    """Indices of ordered quads (N x 4 x 2, tl first) in reading order (see the module's docstring).

    ``line_tolerance``: top-left corners of horizontal lines closer than this vertically are on one line.
    """
    quads = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)
    vertical = [is_vertical_quad(quad) for quad in quads]
    if not any(vertical):
        return line_order(quads[:, 0, :], line_tolerance)
    boxes = [Box.around(quad) for quad in quads]
    blocks = vertical_blocks(boxes, vertical, [may_be_column(quad) for quad in quads])
    in_block = {i for block in blocks for i in block}
    lines = [i for i in range(len(quads)) if i not in in_block]
    ordered_lines = [lines[k] for k in line_order(quads[lines, 0, :], line_tolerance)]
    extents = [reduce(Box.union, (boxes[i] for i in block)) for block in blocks]
    ordered = block_order(extents)
    return merge(ordered_lines, [blocks[k] for k in ordered], boxes, [extents[k] for k in ordered])
