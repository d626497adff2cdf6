"""Where the text is in a crop a caller hands over as one line, and how its readings join again.

Crops that callers cut themselves are often not one tight line: a logo with its emblem beside the
name, a button with wide padding, a plate photographed with a black frame around it, a banner whose
large brand name is followed by a line of small print. Read as one row, the emblem becomes a symbol,
the padding shrinks the text, and small print next to large letters comes out a few pixels high.

So a crop read horizontally is first shown to the detector at a small working size (cheap: the crop
is small). When the detector finds one row of text that fills the crop, the crop is read whole, as
before. Otherwise each row of text it found (boxes side by side of similar height, joined) is cut out
with a margin and read on its own, and the readings are joined in reading order with spaces. Crops the
detector finds nothing in are read whole.

The in-process pipeline and the served ``recognize_crops`` model both call these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ocrstack.config import DetectorConfig, Orientation
from ocrstack.pipeline.geometry import is_vertical, rotate_to_horizontal
from ocrstack.pipeline.reading_order import reading_order

LAYOUTS = ("auto", "line")
ORIENTATIONS = ("auto", "horizontal", "vertical")
# The short side the detector sees a crop at (brought up to it, never down): large enough for the
# small print in a banner, small enough that a crop costs about a hundredth of a page.
CROP_DETECTION_SIDE = 128
# Boxes side by side belong to one row when they share this much of the shorter one's height and the
# taller is at most this many times the shorter (small print beside large letters is a row of its own).
ROW_SHARED_HEIGHT = 0.5
ROW_HEIGHT_RATIO = 1.5
# One row of text "fills" a crop when it spans this much of the crop's width and height; the margins
# left are then those of a line crop, and the crop is read whole. A row in a crop with more room above and
# below (a button, a badge) is cut out, as the page's lines are.
FILLED_WIDTH = 0.8
FILLED_HEIGHT = 0.8
# Margin kept around a row cut out of a crop, in row heights. Held-out Korean lines framed as small buttons
# (scripts/crop_margins.py, seeds 0 and 1) read exactly 0.43 / 0.47 with rows filling 0.4 of the height
# read whole and a margin of 0.2, 0.50 / 0.57 at 0.8 of the height, 0.56 / 0.58 with a margin of 0.1;
# the same lines unframed 0.91 / 0.93, 0.95 / 0.94 and 0.95 / 0.95.
ROW_MARGIN = 0.1
# Border added around a crop before detection, in parts of its shorter side: a detector misses letters
# that touch the image's edge, as the first and last letters of a tight crop do.
DETECTION_BORDER = 0.25
# A box mostly inside another (a stroke of the larger text found again) adds nothing.
INSIDE_SHARE = 0.5


def crop_detector_config(config: DetectorConfig) -> DetectorConfig:
    """The detector's record with the working size for crops."""
    return dataclasses.replace(config, limit_side_len=CROP_DETECTION_SIDE, limit_type="min")


def bordered(crop: np.ndarray) -> tuple[np.ndarray, int]:
    """The crop as the detector should see it (its edges repeated outwards) and the border's width,
    to subtract from the quads found in it."""
    border = max(2, round(DETECTION_BORDER * min(crop.shape[:2])))
    return cv2.copyMakeBorder(crop, border, border, border, border, cv2.BORDER_REPLICATE), border


def lay_out(crop: np.ndarray, orientation: str) -> tuple[np.ndarray, Orientation]:
    """A crop as a row for the recognizers and the orientation it is read in: ``auto`` decides by the
    crop's shape as the pipeline does; a vertical crop is turned on its side."""
    read_as = reading_orientation(crop, orientation)
    return (rotate_to_horizontal(crop), read_as) if read_as == "vertical" else (crop, read_as)


def reading_orientation(crop: np.ndarray, orientation: str) -> Orientation:
    """The orientation a crop is read in: ``auto`` decides by its shape, as the pipeline does."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
    if orientation == "auto":
        return "vertical" if is_vertical(*crop.shape[:2]) else "horizontal"
    return "vertical" if orientation == "vertical" else "horizontal"


def _bounds(quads: np.ndarray) -> np.ndarray:
    """N x 4 (x0, y0, x1, y1) axis-aligned bounds of N x 4 x 2 quads."""
    points = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)


def _inside_share(inner: np.ndarray, outer: np.ndarray) -> float:
    width = min(inner[2], outer[2]) - max(inner[0], outer[0])
    height = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return float(max(width, 0) * max(height, 0) / area) if area > 0 else 1.0


def _same_row(a: np.ndarray, b: np.ndarray) -> bool:
    heights = (a[3] - a[1], b[3] - b[1])
    shared = min(a[3], b[3]) - max(a[1], b[1])
    return (
        min(heights) > 0
        and shared >= ROW_SHARED_HEIGHT * min(heights)
        and max(heights) <= ROW_HEIGHT_RATIO * min(heights)
    )


def text_rows(quads: np.ndarray, crop_shape: tuple[int, ...]) -> np.ndarray | None:
    """The rows of text to read in a crop, as axis-aligned quads (N x 4 x 2, tl/tr/br/bl, crop pixels,
    margins included) in reading order; ``None`` when the crop is to be read whole: the detector found
    nothing, or one row that fills the crop."""
    height, width = crop_shape[:2]
    boxes = np.clip(_bounds(quads), 0, [width, height, width, height])
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    if len(boxes) == 0:
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    boxes = boxes[np.argsort(-areas, kind="stable")]
    kept: list[np.ndarray] = []
    for box in boxes:
        if all(_inside_share(box, other) < INSIDE_SHARE for other in kept):
            kept.append(box)
    rows: list[np.ndarray] = []
    for box in sorted(kept, key=lambda b: float(b[0])):
        for index, row in enumerate(rows):
            if _same_row(row, box):
                rows[index] = np.concatenate([np.minimum(row[:2], box[:2]), np.maximum(row[2:], box[2:])])
                break
        else:
            rows.append(box)
    if len(rows) == 1:
        x0, y0, x1, y1 = rows[0]
        if x1 - x0 >= FILLED_WIDTH * width and y1 - y0 >= FILLED_HEIGHT * height:
            return None
    cut = [_with_margin(row, rows, width, height) for row in rows]
    quads_out = np.asarray([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for x0, y0, x1, y1 in cut], np.float32)
    return quads_out[reading_order(quads_out)]


def _with_margin(row: np.ndarray, rows: list[np.ndarray], width: int, height: int) -> tuple[float, ...]:
    """A row's bounds grown by :data:`ROW_MARGIN`, inside the crop, and along the line never past the
    near edge of a row beside it (whose last letters would otherwise be read twice)."""
    x0, y0, x1, y1 = (float(v) for v in row)
    margin = ROW_MARGIN * (y1 - y0)
    left, right = max(0.0, x0 - margin), min(float(width), x1 + margin)
    for other in rows:
        if other is row or min(y1, other[3]) <= max(y0, other[1]):  # not beside this one
            continue
        if other[2] <= x1 and other[0] < x0:  # on the left
            left = max(left, min(float(other[2]), x0))
        elif other[0] >= x0 and other[2] > x1:  # on the right
            right = min(right, max(float(other[0]), x1))
    return left, max(0.0, y0 - margin), right, min(float(height), y1 + margin)


def cut_rows(crop: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """The pixels of each row quad from :func:`text_rows` (axis-aligned, so a plain slice)."""
    pieces = []
    for quad in rows:
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
        pieces.append(crop[max(y0, 0) : max(y1, y0 + 1), max(x0, 0) : max(x1, x0 + 1)])
    return pieces


@dataclass(frozen=True)
class CropRows:
    """Crops expanded into the rows the recognizers read: ``owners[i]`` is the crop row ``i`` is of;
    ``split[c]`` whether crop ``c`` was cut into rows (else its one row is the whole crop)."""

    rows: list[np.ndarray]
    orientations: list[Orientation]
    owners: list[int]
    split: list[bool]
    crop_orientations: list[Orientation]

    @classmethod
    def expand(
        cls, crops: Sequence[np.ndarray], orientation: str, found: Sequence[np.ndarray | None]
    ) -> CropRows:
        """``found[c]``: the rows :func:`text_rows` found in crop ``c`` (``None``: read it whole)."""
        expanded = cls([], [], [], [], [])
        for index, (crop, rows_found) in enumerate(zip(crops, found, strict=True)):
            whole = lay_out(crop, orientation)
            laid = [whole] if rows_found is None else [lay_out(p, "auto") for p in cut_rows(crop, rows_found)]
            expanded.crop_orientations.append(whole[1])
            expanded.split.append(rows_found is not None)
            for row, row_orientation in laid:
                expanded.rows.append(row)
                expanded.orientations.append(row_orientation)
                expanded.owners.append(index)
        return expanded

    def join(self, readings: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
        """One (text, score) per crop. A crop read whole keeps its reading; a crop cut into rows gets
        their texts joined by spaces, scored by their scores weighted by the characters each read (the
        best row's score when none read anything)."""
        joined: list[tuple[str, float]] = [("", 0.0)] * len(self.split)
        parts: list[list[tuple[str, float]]] = [[] for _ in self.split]
        for owner, reading in zip(self.owners, readings, strict=True):
            parts[owner].append(reading)
        for index, read in enumerate(parts):
            if not self.split[index]:
                (joined[index],) = read
                continue
            texts = [(text.strip(), score) for text, score in read if text.strip()]
            if not texts:
                joined[index] = ("", max((score for _, score in read), default=0.0))
                continue
            characters = sum(len(text) for text, _ in texts)
            score = sum(score * len(text) for text, score in texts) / characters
            joined[index] = (" ".join(text for text, _ in texts), float(score))
        return joined


def wants_detection(crop: np.ndarray, orientation: str, layout: str) -> bool:
    """Whether the detector should look at a crop: ``layout`` ``auto`` and the crop read horizontally."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    return layout == "auto" and reading_orientation(crop, orientation) == "horizontal"
