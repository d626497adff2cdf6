"""Text and background colour of each detected line, from colour-histogram peaks inside its box.

No clustering loop: coarse 3-D histograms of the box (``cv2.calcHist``, which takes the box's polygon
as a mask, so no pixel is gathered or copied) give the two colours to within a bin, and a few masked
256-level histograms refine each to within a few levels. A line of typical size takes under a
millisecond (``scripts/color_benchmark.py`` measures it).

Method, per line:

1. The quad's axis-aligned bounding box, clipped to the image, with masks of the quad's interior and of
   its border ring. A mask, not a perspective crop: resampling would mix text and background into new
   colours.
2. Background: the peak of the border ring's histogram, each bin summed with its neighbours so that a
   gradient or noise spread over several bins still makes one peak; then the median of the ring's pixels
   in and around that bin. The border is where a box is mostly background even when thick text fills
   much of it.
3. Text: among bins far enough from the background, the one with the most pixels times its distance from
   the background. Anti-aliased edges spread pixels evenly between the two colours; weighting by
   distance makes the fully inked pixels at the far end win over them.
4. Refinement, with each pixel placed along the background-to-text axis (0 at the background, 1 at the
   text): the background is the median of the pixels near its end, which for a linear gradient is the
   colour at the box's centre; the text is the mode of the pixels on its side, found by a few steps of a
   median-shift (the median of the pixels within a window of the current estimate). Medians, not means:
   anti-aliased edge pixels all lie on one side of each colour and pull a mean towards the other (on the
   benchmark's cases, means gave a mean text error of 2.0 levels and background errors up to 4; medians
   0.6 and 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]

BIN_SHIFT = 4  # 256 >> 4 = 16 levels per channel: coarse enough that noise does not split a peak
LEVELS = 256 >> BIN_SHIFT
BIN_WIDTH = 1 << BIN_SHIFT
# Text must differ from the background by at least this much (Euclidean, 0-255 RGB) to count as text;
# below it, a box is taken as plain background (noise and gradients stay within it).
MIN_CONTRAST = 40.0
# Border ring thickness as a fraction of the box's shorter side (at least one pixel).
BORDER_FRACTION = 0.1
# Pixels up to this far along the background-to-text axis are background, and past TEXT_SIDE text
# candidates; the band between holds the mixed pixels of anti-aliased edges.
BACKGROUND_BAND = 0.25
TEXT_SIDE = 0.5
# The text peak is looked for with its own bin counted this many times besides the neighbourhood sum:
# smoothing alone moves the peak of thin text one bin towards the background, where the edge pixels
# are, and no smoothing at all lets noise scatter it (both measured with scripts/color_benchmark.py).
TEXT_CENTRE_WEIGHT = 2.0
# Median-shift window around the text colour: half-width in levels per channel, a fraction of the
# contrast within bounds. Wide enough to reach the true colour from a seed half a bin off, narrow enough
# to leave most edge pixels out.
TEXT_WINDOW_FRACTION = 0.1
TEXT_WINDOW_RANGE = (8.0, 16.0)
TEXT_MODE_STEPS = 3

DEFAULT_TEXT: RGB = (0, 0, 0)
DEFAULT_BACKGROUND: RGB = (255, 255, 255)


def rgb_to_hex(rgb: RGB) -> str:
    """``#rrggbb`` of an (r, g, b) colour."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class LineColors:
    """Colours of one line, (r, g, b) 0-255."""

    text: RGB
    background: RGB

    def hex(self) -> dict[str, str]:
        """Both colours as ``#rrggbb``, keyed ``text`` and ``background`` (as the API returns them)."""
        return {"text": rgb_to_hex(self.text), "background": rgb_to_hex(self.background)}


# A box with no pixels in the image (outside it, or not a finite quad) has nothing to measure; dark on
# light is what most documents are.
FALLBACK = LineColors(DEFAULT_TEXT, DEFAULT_BACKGROUND)


def line_colors(image_bgr: np.ndarray, quads: np.ndarray) -> list[LineColors]:
    """Text and background colour of each line of a BGR uint8 image; ``quads`` is N x 4 x 2 (x, y)
    pixel coordinates, N may be 0. Boxes are clipped to the image; one without pixels in it gets
    :data:`FALLBACK`, and one of a single colour gets black or white text, whichever contrasts more."""
    image = np.ascontiguousarray(image_bgr)  # OpenCV needs each row's pixels packed (not a [..., ::-1])
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image of shape H x W x 3, got {image.dtype} {image.shape}")
    boxes = np.asarray(quads, dtype=np.float32)
    if boxes.size % 8:
        raise ValueError(f"expected quads of shape N x 4 x 2, got {boxes.shape}")
    boxes = boxes.reshape(-1, 4, 2)
    return [_quad_colors(image, quad) for quad in boxes]


def _quad_colors(image: np.ndarray, quad: np.ndarray) -> LineColors:
    region = _box_region(image, quad)
    if region is None:
        return FALLBACK
    crop, inside, ring = region
    background = _background_seed(crop, ring)
    text = _text_seed(crop, inside, background)
    if text is None:
        background = _median(crop, inside)
        return LineColors(_contrasting(background), _to_rgb(background))
    background, text = _refine(crop, inside, background, text)
    return LineColors(_to_rgb(text), _to_rgb(background))


def _box_region(image: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The quad's bounding box clipped to the image, with masks of the quad's interior and its border
    ring in it; the whole box when the quad encloses no pixel centre (a degenerate box); None when the
    box has no pixel in the image."""
    if not np.isfinite(quad).all():
        return None
    height, width = image.shape[:2]
    low = np.clip(np.floor(quad.min(axis=0)).astype(int), 0, [width, height])
    high = np.clip(np.ceil(quad.max(axis=0)).astype(int), 0, [width, height])
    high = np.maximum(high, np.minimum(low + 1, [width, height]))  # a zero-width box keeps one pixel
    (x0, y0), (x1, y1) = low, high
    if x1 <= x0 or y1 <= y0:
        return None
    crop = image[y0:y1, x0:x1]
    inside, ring = _polygon_masks(quad - np.array([x0, y0], dtype=np.float32), (y1 - y0, x1 - x0))
    if not cv2.countNonZero(inside):
        inside = ring = np.full(crop.shape[:2], 255, dtype=np.uint8)
    if not cv2.countNonZero(ring):
        ring = inside
    return crop, inside, ring


def _polygon_masks(quad: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The quad's interior and its border ring on a grid of ``shape``, as 0/255 masks."""
    shift = 4  # fixed-point fraction bits, so that fractional corners are not rounded to whole pixels
    # Quads are in pixel-edge coordinates; OpenCV draws in pixel-centre ones, half a pixel further.
    points = np.rint((quad - 0.5) * (1 << shift)).astype(np.int32)[None]
    interior = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(interior, points, (255,), lineType=cv2.LINE_8, shift=shift)
    side = min(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[3] - quad[0]))
    thickness = 2 * max(1, round(BORDER_FRACTION * side)) + 1  # the outline is drawn centred on the edge
    ring = np.zeros(shape, dtype=np.uint8)
    cv2.polylines(ring, points, True, (255,), thickness=thickness, lineType=cv2.LINE_8, shift=shift)
    return interior, cv2.bitwise_and(ring, interior)


def _histograms(crop: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat LEVELS^3 colour histogram of the masked pixels, and the same with each bin summed with its
    26 neighbours (a separable 3 x 3 x 3 box sum), so that a colour spread over neighbouring bins by
    noise or a gradient still makes one peak."""
    raw = np.asarray(cv2.calcHist([crop], [0, 1, 2], mask, [LEVELS] * 3, [0, 256] * 3), dtype=np.float32)
    smooth = raw
    for axis in range(3):
        summed = smooth.copy()
        ahead, behind = [slice(None)] * 3, [slice(None)] * 3
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        summed[tuple(ahead)] += smooth[tuple(behind)]
        summed[tuple(behind)] += smooth[tuple(ahead)]
        smooth = summed
    return raw.reshape(-1), smooth.reshape(-1)


def _bin_centres() -> np.ndarray:
    """BGR centre of every bin, in the histograms' flat order (LEVELS^3 x 3)."""
    centre = np.arange(LEVELS, dtype=np.float32) * BIN_WIDTH + (BIN_WIDTH - 1) / 2
    grid = np.stack(np.meshgrid(centre, centre, centre, indexing="ij"), axis=-1)
    return grid.reshape(-1, 3)


BIN_CENTRES = _bin_centres()


def _median(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel median (BGR) of the masked pixels, from 256-level counts: exact for uint8, and
    several times faster than gathering and sorting the pixels."""
    medians = []
    for channel in range(3):
        cumulative = cv2.calcHist([crop], [channel], mask, [256], [0, 256]).ravel().cumsum()
        n = int(cumulative[-1])
        # The value of rank k is the first level whose cumulative count exceeds k.
        lower = np.searchsorted(cumulative, (n - 1) // 2, side="right")
        upper = np.searchsorted(cumulative, n // 2, side="right")
        medians.append((lower + upper) / 2)
    return np.array(medians, dtype=np.float32)


def _box_mask(crop: np.ndarray, mask: np.ndarray, centre: np.ndarray, half_width: float) -> np.ndarray:
    """The masked pixels within ``half_width`` of ``centre`` in every channel."""
    near = cv2.inRange(crop, np.floor(centre - half_width), np.ceil(centre + half_width))
    return cv2.bitwise_and(near, mask)


def _background_seed(crop: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Median of the border pixels in and around the border histogram's peak bin (BGR)."""
    _, smooth = _histograms(crop, ring)
    peak = BIN_CENTRES[int(smooth.argmax())]
    near = _box_mask(crop, ring, peak, 1.5 * BIN_WIDTH)  # the peak bin and its neighbours
    return _median(crop, near)


def _text_seed(crop: np.ndarray, inside: np.ndarray, background: np.ndarray) -> np.ndarray | None:
    """Centre of the bin with the most pixels (its own, weighted, and its neighbours') times distance
    from the background, among those at least :data:`MIN_CONTRAST` away; None when no pixel is."""
    raw, smooth = _histograms(crop, inside)
    distance = np.linalg.norm(BIN_CENTRES - background, axis=1)
    counts = TEXT_CENTRE_WEIGHT * raw + smooth
    # The smoothed histogram is non-zero next to occupied bins too; only occupied bins are candidates.
    score = np.where((raw > 0) & (distance >= MIN_CONTRAST), counts * distance, 0.0)
    best = int(score.argmax())
    return BIN_CENTRES[best] if score[best] > 0 else None


def _refine(
    crop: np.ndarray, inside: np.ndarray, background: np.ndarray, text: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Background and text colours from the pixels near each end of the axis between the seeds."""
    axis = text - background
    scale = axis / float(axis @ axis)
    along = crop.astype(np.float32) @ scale - float(background @ scale)  # 0 at background, 1 at text
    interior = inside.astype(bool)
    near_background = ((along < BACKGROUND_BAND) & interior).view(np.uint8)
    if cv2.countNonZero(near_background):
        background = _median(crop, near_background)
    text_side = ((along > TEXT_SIDE) & interior).view(np.uint8)
    if cv2.countNonZero(text_side):
        contrast = float(np.linalg.norm(text - background))
        window = float(np.clip(TEXT_WINDOW_FRACTION * contrast, *TEXT_WINDOW_RANGE))
        text = _mode(crop, text_side, text, window)
    return background, text


def _mode(crop: np.ndarray, mask: np.ndarray, start: np.ndarray, window: float) -> np.ndarray:
    """A few median-shift steps from ``start``: each the per-channel median of the masked pixels within
    ``window`` of the last in every channel."""
    centre = start
    for _ in range(TEXT_MODE_STEPS):
        near = _box_mask(crop, mask, centre, window)
        if not cv2.countNonZero(near):
            break
        previous, centre = centre, _median(crop, near)
        if np.array_equal(previous, centre):
            break
    return centre


def _to_rgb(bgr: np.ndarray) -> RGB:
    b, g, r = (int(v) for v in np.clip(np.rint(bgr), 0, 255))
    return r, g, b


def _contrasting(bgr: np.ndarray) -> RGB:
    """Black or white, whichever is farther from the colour."""
    return DEFAULT_TEXT if np.linalg.norm(bgr) > np.linalg.norm(255 - bgr) else (255, 255, 255)
