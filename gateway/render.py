"""Translations drawn in place of the text they translate: the "OCR in an editor" view.

Each line's box is painted over with its background colour, slightly beyond the box so that no edge of
the old glyphs is left, and the new text is drawn in its text colour, as large as fits the box, centred,
in a font that has every one of its characters. The text is laid out upright in a rectangle of the box's
size and then warped onto the box, so a tilted or perspective-distorted line is redrawn the same way.

Fitting, in order: one line at the largest size that fits both ways, if that is no less than a minimum
(a fraction of what the box's height allows, so that a long translation does not shrink to unreadable);
else two lines, under the same rule, if they come out larger than one line; else one or two lines at
their minimum size, squeezed horizontally to the box's width (and made smaller where the squeeze would
pass a limit), whichever keeps its glyphs larger. A vertical line stacks its characters top to bottom in
one column, squeezed vertically when even the minimum size does not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ocrstack.pipeline.geometry import quad_size
from ocrstack.synth.fonts import FontFace, Script, covers, faces_for_script, font_codepoints, installed_faces
from ocrstack.synth.render import ink_box, line_extent, load_font

RGB = tuple[int, int, int]

# Painted beyond the box: anti-aliased glyph edges reach a pixel or two past a tight box.
MIN_FILL_MARGIN_PX = 2
FILL_MARGIN_FRACTION = 0.06  # of the box's height (a column's width)
PADDING_FRACTION = 0.08  # room left inside the box on every side, of its height (a column's width)
MIN_FONT_PX = 8  # smaller text is not readable
# A translation is not shrunk below this fraction of the size the box's height allows on one line; past
# it, wrapping or squeezing keeps the text readable.
MIN_RELATIVE_SIZE = 0.6
# Squeezing further than this reads as a different, illegible font: the size gives way instead.
MIN_SQUEEZE = 0.5
LINE_GAP = 0.15  # between two wrapped lines, of a line's height
PROBE_SIZE = 100  # text is measured once at this size; extents scale about linearly with the size


@dataclass(frozen=True, eq=False)  # eq=False: comparing or hashing the quad array has no single answer
class RenderLine:
    """One line to draw: its box (4 x 2, corners clockwise from the top-left of the upright text, image
    pixels), its new text (empty or None: the box is only painted over) and its colours (r, g, b)."""

    quad: np.ndarray
    text: str | None
    text_rgb: RGB
    background_rgb: RGB
    vertical: bool = False


def render_translations(image_bgr: np.ndarray, lines: Sequence[RenderLine]) -> np.ndarray:
    """A copy of the BGR uint8 image with each line's box painted over and its text drawn in it."""
    image = np.asarray(image_bgr)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image of shape H x W x 3, got {image.dtype} {image.shape}")
    out = image.copy()
    for line in lines:
        quad = np.asarray(line.quad, dtype=np.float32).reshape(4, 2)
        if not np.isfinite(quad).all():
            continue
        _fill_box(out, quad, line.background_rgb)
        width, height = quad_size(quad)
        short = min(width, height)
        text = _drawable(line.text or "")
        if text and short >= 2:
            mask = _text_mask(text, width, height, line.vertical)
            _blend_onto_quad(out, mask, quad, line.text_rgb)
    return out


def encode_png(image_bgr: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.asarray(image_bgr))
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return encoded.tobytes()


def fill_margin(quad: np.ndarray) -> int:
    """Pixels painted beyond each edge of the box."""
    width, height = quad_size(quad)
    return max(MIN_FILL_MARGIN_PX, round(FILL_MARGIN_FRACTION * min(width, height)))


def _fill_box(image: np.ndarray, quad: np.ndarray, rgb: RGB) -> None:
    shift = 4  # fixed-point fraction bits: fractional corners are not rounded to whole pixels
    # Quads are in pixel-edge coordinates; OpenCV draws in pixel-centre ones, half a pixel further.
    points = [np.rint((quad - 0.5) * (1 << shift)).astype(np.int32)]
    color = tuple(int(c) for c in rgb[::-1])
    cv2.fillPoly(image, points, color, lineType=cv2.LINE_8, shift=shift)
    # An outline drawn centred on the edges grows the painted area by half its thickness.
    thickness = 2 * fill_margin(quad) + 1
    cv2.polylines(image, points, True, color, thickness=thickness, lineType=cv2.LINE_8, shift=shift)


def _drawable(text: str) -> str:
    """The text on one line, without characters that draw nothing or that no installed font has."""
    flat = " ".join(text.split())
    face = font_for_text(flat)
    if face is None:
        return ""
    codepoints = font_codepoints(face.path)
    # A missing glyph would be drawn as a box, which in an edited image reads as a rendering fault.
    return "".join(char for char in flat if ord(char) in codepoints).strip()


# One sample per script, so that warm_up finds and opens every font a translation can need.
WARM_UP_TEXTS = ("번역된 문장", "翻译的句子", "Translated text")


def warm_up() -> None:
    """Discover the fonts and read their coverage now: the first scan of the installed fonts takes seconds,
    which the first request with ``render`` would otherwise pay."""
    for text in WARM_UP_TEXTS:
        font_for_text(text)


def font_for_text(text: str) -> FontFace | None:
    """A face that covers every character of ``text``, preferring the fonts of the scripts it uses
    (Hangul, then Han, then Latin); else the face covering the most; None when no font is installed."""
    return _font_for_characters("".join(sorted(set(text))))


@lru_cache(maxsize=4096)
def _font_for_characters(characters: str) -> FontFace | None:
    candidates = [
        *(face for script in _scripts(characters) for face in faces_for_script(script)),
        *installed_faces(),
    ]
    for face in candidates:
        if covers(face.path, characters):
            return face
    if not candidates:
        return None
    return max(candidates, key=lambda face: sum(ord(c) in font_codepoints(face.path) for c in characters))


def _scripts(text: str) -> list[Script]:
    def any_in(*ranges: tuple[int, int]) -> bool:
        return any(low <= ord(char) <= high for char in text for low, high in ranges)

    hangul = any_in((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7A3))
    # Han ideographs, CJK punctuation, kana and full-width forms: the CJK fonts carry them all.
    han = any_in((0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))
    scripts: list[Script] = []
    if hangul:
        scripts.append("hangul")
    if han:
        scripts.append("han")
    return [*scripts, "latin"]


@dataclass(frozen=True)
class _Layout:
    lines: tuple[str, ...]
    size: int
    squeeze: float = 1.0  # horizontal scale (vertical for a column) applied after drawing


def _text_mask(text: str, width: int, height: int, vertical: bool) -> np.ndarray:
    """Coverage (uint8, height x width) of the text fitted and centred in an upright box of that size."""
    face = font_for_text(text)
    assert face is not None  # _drawable left only text some font covers
    across = width if vertical else height
    pad = max(1, round(PADDING_FRACTION * across)) if across > 4 else 0
    inner = (max(width - 2 * pad, 1), max(height - 2 * pad, 1))
    if vertical:
        drawn = _draw_column(text, face, *inner)
    else:
        drawn = _draw_lines(_fit_lines(text, face, *inner), face, *inner)
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[pad : pad + drawn.shape[0], pad : pad + drawn.shape[1]] = drawn
    return mask


def _font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return load_font(face.path, max(size, 1), face.index)


def _ink_box(face: FontFace, size: int, text: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the text's ink relative to its baseline origin, whole pixels."""
    return ink_box(_font(face, size), text)


def _line_extent(face: FontFace, size: int, text: str) -> tuple[int, int]:
    """Top and bottom of the ink of the text and of the reference, relative to the baseline."""
    return line_extent(_font(face, size), text)


# Fitting measures the same lines at neighbouring sizes over and over, and FreeType's measuring is what
# the time goes into: remembered per face, lines and size.
@lru_cache(maxsize=8192)
def _block_size(face: FontFace, lines: tuple[str, ...], size: int) -> tuple[int, int]:
    """(width, height) of lines set one under the other at a font size."""
    line_height = max(bottom - top for top, bottom in (_line_extent(face, size, line) for line in lines))
    widths = [right - left for left, _, right, _ in (_ink_box(face, size, line) for line in lines)]
    gaps = round(LINE_GAP * line_height) * (len(lines) - 1)
    return max(widths), line_height * len(lines) + gaps


def _largest_size(face: FontFace, lines: tuple[str, ...], width: float, height: float) -> int:
    """The largest font size at which the lines fit ``width`` x ``height`` (0 when none does)."""
    probe_w, probe_h = _block_size(face, lines, PROBE_SIZE)
    size = math.floor(PROBE_SIZE * min(width / max(probe_w, 1), height / max(probe_h, 1)))
    # Hinting and whole-pixel extents make sizes not quite proportional: step to the exact answer.
    while size > 1 and not _fits(face, lines, size, width, height):
        size -= 1
    while _fits(face, lines, size + 1, width, height):
        size += 1
    return size if size >= 1 and _fits(face, lines, size, width, height) else 0


def _fits(face: FontFace, lines: tuple[str, ...], size: int, width: float, height: float) -> bool:
    block_w, block_h = _block_size(face, lines, size)
    return block_w <= width and block_h <= height


def _two_lines(text: str) -> tuple[str, str] | None:
    """The text split in two at the word break (or, without spaces, the character) that best balances
    the halves' lengths; None for a single character."""
    words = text.split(" ")
    if len(words) > 1:
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    elif len(text) > 1:
        splits = [(text[:i], text[i:]) for i in range(1, len(text))]
    else:
        return None
    return min(splits, key=lambda pair: abs(len(pair[0]) - len(pair[1])))


def _fit_lines(text: str, face: FontFace, width: int, height: int) -> _Layout:
    """One line if it fits at no less than its minimum; else two lines if they fit at no less than
    theirs and larger than one line would; else the one of the two, at its minimum, squeezed to the
    width, whose glyphs stay larger (area: size squared times the squeeze)."""
    split = _two_lines(text)
    options = []
    for lines in [(text,), *([split] if split else [])]:
        by_height = _largest_size(face, lines, math.inf, height)
        minimum = min(by_height, max(MIN_FONT_PX, math.ceil(MIN_RELATIVE_SIZE * by_height)))
        options.append((lines, _largest_size(face, lines, width, height), max(minimum, 1)))
    (one_line, one_size, one_minimum), *wrapped = options
    if one_size >= one_minimum:
        return _Layout(one_line, one_size)
    if wrapped and wrapped[0][1] >= wrapped[0][2] and wrapped[0][1] > one_size:
        return _Layout(wrapped[0][0], wrapped[0][1])
    squeezed = [_squeezed(face, lines, minimum, width) for lines, _, minimum in options]
    return max(squeezed, key=lambda layout: layout.size**2 * layout.squeeze)


def _squeezed(face: FontFace, lines: tuple[str, ...], size: int, width: int) -> _Layout:
    """The lines at ``size``, squeezed to ``width``; smaller where that would squeeze them past
    :data:`MIN_SQUEEZE`."""
    squeeze = min(1.0, width / max(_block_size(face, lines, size)[0], 1))
    if squeeze < MIN_SQUEEZE:
        size = max(1, math.floor(size * squeeze / MIN_SQUEEZE))
        squeeze = min(1.0, width / max(_block_size(face, lines, size)[0], 1))
    return _Layout(lines, size, squeeze)


def _draw_lines(layout: _Layout, face: FontFace, width: int, height: int) -> np.ndarray:
    """The layout's lines, each centred, the block centred, in a height x width coverage mask."""
    font = _font(face, layout.size)
    block_w, block_h = _block_size(face, layout.lines, layout.size)
    canvas_w = max(width, block_w) if layout.squeeze < 1 else width
    image = Image.new("L", (canvas_w, height))
    draw = ImageDraw.Draw(image)
    extents = [_line_extent(face, layout.size, line) for line in layout.lines]
    line_height = max(bottom - top for top, bottom in extents)
    y = (height - block_h) // 2
    for line, (top, _) in zip(layout.lines, extents, strict=True):
        left, _, right, _ = _ink_box(face, layout.size, line)
        x = (canvas_w - (right - left)) / 2 - left
        draw.text((x, y - top), line, fill=255, font=font, anchor="ls")
        y += line_height + round(LINE_GAP * line_height)
    drawn = np.asarray(image)
    if canvas_w != width:
        drawn = cv2.resize(drawn, (width, height), interpolation=cv2.INTER_AREA)
    return drawn


def _draw_column(text: str, face: FontFace, width: int, height: int) -> np.ndarray:
    """The characters stacked top to bottom, one em apart, each centred, in a height x width mask;
    squeezed vertically when they do not fit at the minimum size."""
    characters = text.replace(" ", "")  # a column has no word spaces; a gap would read as a break
    widest = max(right - left for left, _, right, _ in (_ink_box(face, PROBE_SIZE, c) for c in characters))
    by_width = math.floor(PROBE_SIZE * width / max(widest, 1))
    minimum = min(by_width, max(MIN_FONT_PX, math.ceil(MIN_RELATIVE_SIZE * by_width)))
    size = max(min(by_width, height // len(characters)), minimum, 1)  # the pitch is one em
    canvas_h = max(height, size * len(characters))
    image = Image.new("L", (width, canvas_h))
    draw = ImageDraw.Draw(image)
    font = _font(face, size)
    first = (canvas_h - size * len(characters)) // 2
    for row, char in enumerate(characters):
        left, top, right, bottom = _ink_box(face, size, char)
        x = (width - (right - left)) / 2 - left
        y = first + row * size + (size - (bottom - top)) / 2 - top
        draw.text((x, y), char, fill=255, font=font, anchor="ls")
    drawn = np.asarray(image)
    if canvas_h != height:
        drawn = cv2.resize(drawn, (width, height), interpolation=cv2.INTER_AREA)
    return drawn


def _blend_onto_quad(image: np.ndarray, mask: np.ndarray, quad: np.ndarray, rgb: RGB) -> None:
    """Lay ``rgb`` over the image through the upright mask warped onto the quad."""
    height, width = image.shape[:2]
    low = np.clip(np.floor(quad.min(axis=0)).astype(int) - 1, 0, [width, height])
    high = np.clip(np.ceil(quad.max(axis=0)).astype(int) + 1, 0, [width, height])
    (x0, y0), (x1, y1) = low, high
    if x1 <= x0 or y1 <= y0:
        return
    mask_h, mask_w = mask.shape
    source = np.array([[0, 0], [mask_w, 0], [mask_w, mask_h], [0, mask_h]], dtype=np.float32)
    target = (quad - np.array([x0, y0])).astype(np.float32)
    # Both corner sets are pixel edges; OpenCV maps pixel centres, half a pixel in.
    matrix = cv2.getPerspectiveTransform(source - np.float32(0.5), target - np.float32(0.5))
    size = (int(x1 - x0), int(y1 - y0))
    alpha = cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0,))
    alpha = alpha[..., None].astype(np.float32) / 255.0
    region = image[y0:y1, x0:x1].astype(np.float32)
    color = np.array(rgb[::-1], dtype=np.float32)
    image[y0:y1, x0:x1] = np.rint(region * (1.0 - alpha) + color * alpha).astype(np.uint8)
