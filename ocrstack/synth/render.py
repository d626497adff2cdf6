"""Rendered text: single line crops for recognizers and laid-out pages with ground truth for detectors.

Colours are given as (r, g, b), as people write them; images come back BGR uint8, as OpenCV decodes them
and as the rest of the pipeline takes them.

Geometry convention: ground-truth quads are float32 ``[4, 2]`` (x, y) in pixel-edge coordinates (pixel
(row i, column j) covers ``[j, j + 1) x [i, i + 1)``), corners in the text's own order: top-left,
top-right, bottom-right, bottom-left of the upright line (or column), so a rotated line's first corner is
where reading starts. Quads are tight around the ink.

Text is laid out with Pillow's basic layout engine (no libraqm), so output does not depend on whether
that optional library is installed. Vertical columns stack upright characters top to bottom, one cell of
one em per character, each glyph centred in its cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ocrstack.synth.fonts import missing_chars

RGB = tuple[int, int, int]
Quad = np.ndarray  # float32 [4, 2]
GroundTruth = list[tuple[Quad, str]]

# Measured with every text so that a line's height is filled from cap height to descender whatever the
# text, and a short text ("...", "ㅡ") keeps its place relative to the baseline instead of being blown up.
REFERENCE_TEXT = "Hg"


@lru_cache(maxsize=512)
def load_font(path: str | Path, size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


def _fit_font(
    path: str | Path, index: int, limit: int, measure: Callable[[ImageFont.FreeTypeFont], int]
) -> ImageFont.FreeTypeFont:
    """The largest font whose ``measure`` (a pixel extent, about proportional to the size) is <= limit."""
    probe = measure(load_font(path, limit, index))
    size = max(1, limit * limit // max(probe, 1))
    font = load_font(path, size, index)
    while measure(font) > limit and size > 1:
        size -= 1
        font = load_font(path, size, index)
    return font


def ink_box(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the text relative to its baseline origin, in whole pixels."""
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    return math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)


def _ink_boxes(font: ImageFont.FreeTypeFont, texts: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """:func:`ink_box` of each text that draws something."""
    return [ink_box(font, text) for text in texts if text.strip()]


def line_extent(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
    """Top and bottom of the ink of the text and of the reference, relative to the baseline."""
    boxes = _ink_boxes(font, [REFERENCE_TEXT, text])
    return min(box[1] for box in boxes), max(box[3] for box in boxes)


def _line_height(font: ImageFont.FreeTypeFont, text: str) -> int:
    top, bottom = line_extent(font, text)
    return bottom - top


def _largest_glyph(font: ImageFont.FreeTypeFont, text: str) -> int:
    boxes = _ink_boxes(font, [*REFERENCE_TEXT, *text])
    return max(max(right - left, bottom - top) for left, top, right, bottom in boxes)


def _placements(font: ImageFont.FreeTypeFont, text: str, tracking: float) -> list[tuple[float, str]]:
    """``(x, piece)`` to draw from the baseline origin: the whole text at 0 without tracking, which keeps
    the font's kerning, else each character after the advances of the ones before plus the tracking."""
    if tracking == 0:
        return [(0.0, text)]
    pieces, x = [], 0.0
    for char in text:
        pieces.append((x, char))
        x += font.getlength(char) + tracking * font.size
    return pieces


def _horizontal_mask(text: str, path: str | Path, height: int, index: int, tracking: float) -> np.ndarray:
    font = _fit_font(path, index, height, lambda f: _line_height(f, text))
    top, bottom = line_extent(font, text)
    pieces = [(x, piece) for x, piece in _placements(font, text, tracking) if piece.strip()]
    boxes = [(x, ink_box(font, piece)) for x, piece in pieces]
    left = min(math.floor(x) + box[0] for x, box in boxes)
    right = max(math.ceil(x) + box[2] for x, box in boxes)
    slack = 2  # room for ink that overhangs the measured box by a pixel
    image = Image.new("L", (right - left + 2 * slack, height))
    baseline = (height - (bottom - top)) // 2 - top
    draw = ImageDraw.Draw(image)
    for x, piece in pieces:
        draw.text((slack - left + x, baseline), piece, fill=255, font=font, anchor="ls")
    return np.asarray(image)


def _vertical_mask(text: str, path: str | Path, width: int, index: int, tracking: float) -> np.ndarray:
    font = _fit_font(path, index, width, lambda f: _largest_glyph(f, text))
    # One em per character plus the tracking, never less than the ink.
    pitch = max(int(font.size * (1 + tracking)), _largest_glyph(font, text) + 1)
    image = Image.new("L", (width, pitch * len(text)))
    draw = ImageDraw.Draw(image)
    for row, char in enumerate(text):
        if not char.strip():
            continue
        left, top, right, bottom = ink_box(font, char)
        x = (width - (right - left)) // 2 - left
        y = row * pitch + (pitch - (bottom - top)) // 2 - top
        draw.text((x, y), char, fill=255, font=font, anchor="ls")
    return np.asarray(image)


def text_mask(
    text: str,
    font_path: str | Path,
    size: int,
    vertical: bool = False,
    font_index: int = 0,
    tracking: float = 0.0,
) -> np.ndarray:
    """Ink coverage (uint8, 0-255) of ``text`` fitted to ``size`` pixels across the reading direction
    and cropped to the ink along it.

    A line spans ``size`` rows from the top of the taller of the text and "H" down to the lower of the
    text's and "g"'s descender, keeping the baseline, so that punctuation keeps its place; a column is
    ``size`` wide with its widest or tallest glyph filling it. ``tracking`` is letter spacing: extra
    room between neighbouring characters in ems of the fitted font (negative tightens). Raises
    ``ValueError`` for text that draws nothing or that the font does not draw (it has no glyph, or the
    glyph of another character)."""
    if size < 4:
        raise ValueError(f"text size must be at least 4 pixels, got {size}")
    if not text.strip():
        raise ValueError(f"text {text!r} draws no ink")
    missing = missing_chars(Path(font_path), text)
    if missing:
        # Caught here, not in the image: the font would draw .notdef boxes or other characters, a silent
        # label error.
        raise ValueError(f"font {font_path} does not draw {missing!r} (in {text!r})")
    render = _vertical_mask if vertical else _horizontal_mask
    mask = render(text, font_path, size, font_index, tracking)
    reading_axis = 0 if vertical else 1
    inked = np.flatnonzero(mask.any(axis=1 - reading_axis))
    if inked.size == 0:
        raise ValueError(f"text {text!r} draws no ink")
    return np.take(mask, np.arange(inked[0], inked[-1] + 1), axis=reading_axis)


def _to_bgr(color: RGB) -> np.ndarray:
    return np.array(color[::-1], dtype=np.float32)


def _blend(background: np.ndarray, mask: np.ndarray, color: RGB) -> np.ndarray:
    """``color`` laid over a BGR image through a 0-255 coverage mask of the same size."""
    alpha = mask[..., None].astype(np.float32) / 255.0
    blended = background.astype(np.float32) * (1.0 - alpha) + _to_bgr(color) * alpha
    return np.rint(blended).astype(np.uint8)


def render_text_line(
    text: str,
    font_path: str | Path,
    height: int = 48,
    fg: RGB = (0, 0, 0),
    bg: RGB = (255, 255, 255),
    vertical: bool = False,
    padding: int = 4,
    font_index: int = 0,
    tracking: float = 0.0,
) -> np.ndarray:
    """A BGR uint8 crop of one line, as a recognizer sees it.

    Horizontal: ``[height, W, 3]``; vertical: ``[H, height, 3]`` (``height`` is then the column's width),
    characters top to bottom. The text is fitted to ``height - 2 * padding`` pixels across the reading
    direction (see :func:`text_mask`, which also says what ``tracking`` is), with ``padding`` background
    pixels on every side.
    """
    mask = text_mask(text, font_path, height - 2 * padding, vertical, font_index, tracking)
    mask = np.pad(mask, padding)
    background = np.empty((*mask.shape, 3), dtype=np.uint8)
    background[:] = _to_bgr(bg).astype(np.uint8)
    return _blend(background, mask, fg)


@dataclass(frozen=True)
class LineSpec:
    """One line (or column) to lay out on a page."""

    text: str
    font_path: Path
    height: int = 32  # pixels across the reading direction: a line's height, a column's width
    color: RGB = (0, 0, 0)
    vertical: bool = False
    angle: float = 0.0  # degrees, counter-clockwise as seen on screen, about the line's centre
    position: tuple[int, int] | None = None  # (x, y) of the top-left of the rotated line's bounding box
    font_index: int = 0


def _ink_quad(mask: np.ndarray) -> Quad:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)


def _rotate(mask: np.ndarray, quad: Quad, angle: float) -> tuple[np.ndarray, Quad]:
    """Rotate a mask onto a canvas just large enough, and its quad with it."""
    if angle == 0:
        return mask, quad
    height, width = mask.shape
    matrix = cv2.getRotationMatrix2D((width / 2 - 0.5, height / 2 - 0.5), angle, 1.0)
    edges = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    corners = _apply_to_edges(matrix, edges)
    low = np.floor(corners.min(axis=0))
    size = np.ceil(corners.max(axis=0)) - low
    matrix[:, 2] = matrix[:, 2] - low
    rotated = cv2.warpAffine(mask, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR)
    return rotated, _apply_to_edges(matrix, quad).astype(np.float32)


def _apply_to_edges(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    # OpenCV maps pixel centres; edge coordinates sit half a pixel before them.
    return (points - 0.5) @ matrix[:, :2].T + matrix[:, 2] + 0.5


def _page_background(background: RGB | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    if isinstance(background, np.ndarray):
        if background.shape != (height, width, 3) or background.dtype != np.uint8:
            raise ValueError(f"background must be BGR uint8 of shape {(height, width, 3)}")
        return background.copy()
    page = np.empty((height, width, 3), dtype=np.uint8)
    page[:] = _to_bgr(background).astype(np.uint8)
    return page


def _require_room(slack: int, what: str) -> None:
    if slack < 0:
        raise ValueError(f"{what} does not fit on the page; use a larger page or fewer or smaller lines")


def _spread(rng: np.random.Generator, slack: int, what: str) -> int:
    """A random offset within half the free room."""
    _require_room(slack, what)
    return int(rng.integers(0, slack // 2 + 1))


def _gap(rng: np.random.Generator, line: LineSpec) -> int:
    return int(rng.integers(line.height // 2, line.height + 1))


def _auto_layout(
    lines: Sequence[LineSpec],
    shapes: Sequence[tuple[int, int]],
    size: tuple[int, int],
    margin: int,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """Positions for lines without one: columns from the right edge leftwards, then horizontal lines
    from the top downwards in the room left of the columns."""
    width, height = size
    positions = {i: line.position for i, line in enumerate(lines) if line.position is not None}
    right = width - margin
    for i, line in enumerate(lines):
        if line.vertical and line.position is None:
            (h, w), what = shapes[i], f"column {line.text!r}"
            _require_room(right - w - margin, what)
            positions[i] = (right - w, margin + _spread(rng, height - 2 * margin - h, what))
            right -= w + _gap(rng, line)
    top = margin
    for i, line in enumerate(lines):
        if not line.vertical and line.position is None:
            (h, w), what = shapes[i], f"line {line.text!r}"
            _require_room(height - margin - top - h, what)
            positions[i] = (margin + _spread(rng, right - margin - w, what), top)
            top += h + _gap(rng, line)
    return [positions[i] for i in range(len(lines))]


def _check_placement(
    boxes: Sequence[tuple[int, int, int, int]], lines: Sequence[LineSpec], size: tuple[int, int]
) -> None:
    width, height = size
    for (x0, y0, x1, y1), line in zip(boxes, lines, strict=True):
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise ValueError(f"line {line.text!r} at {(x0, y0)} leaves the {width}x{height} page")
    for i, a in enumerate(boxes):
        for j in range(i):
            b = boxes[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                raise ValueError(f"lines {lines[j].text!r} and {lines[i].text!r} overlap")


def render_page(
    lines: Sequence[LineSpec],
    size: tuple[int, int] = (960, 544),
    background: RGB | np.ndarray = (255, 255, 255),
    seed: int = 0,
    margin: int = 16,
) -> tuple[np.ndarray, GroundTruth]:
    """A BGR uint8 page of ``size`` (width, height) with the lines drawn, and their ground truth
    ``(quad, text)`` in the order given.

    Lines with a ``position`` go there; the others are laid out (see ``_auto_layout``) with offsets drawn
    from ``seed``, so a seed always gives the same page. Overlapping lines or lines leaving the page raise
    ``ValueError``. ``background`` is a colour or a BGR image of the page's size.
    """
    page = _page_background(background, size)
    rng = np.random.default_rng(seed)
    masks, quads = [], []
    for line in lines:
        mask = text_mask(line.text, line.font_path, line.height, line.vertical, line.font_index)
        mask, quad = _rotate(mask, _ink_quad(mask), line.angle)
        masks.append(mask)
        quads.append(quad)
    shapes = [(mask.shape[0], mask.shape[1]) for mask in masks]
    positions = _auto_layout(lines, shapes, size, margin, rng)
    boxes = [(x, y, x + m.shape[1], y + m.shape[0]) for (x, y), m in zip(positions, masks, strict=True)]
    _check_placement(boxes, lines, size)
    truth: GroundTruth = []
    for (x0, y0, x1, y1), mask, quad, line in zip(boxes, masks, quads, lines, strict=True):
        page[y0:y1, x0:x1] = _blend(page[y0:y1, x0:x1], mask, line.color)
        truth.append(((quad + np.array([x0, y0], dtype=np.float32)).astype(np.float32), line.text))
    return page, truth
