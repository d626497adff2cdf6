"""Rendered pages with known text and background colours, on which line colours are checked.

The tests (``tests/gateway/test_colors.py``) and ``scripts/color_benchmark.py`` both read these, so the
figure the script prints and the assertion the tests make are about the same images.

Each page holds Latin and Hangul lines of several sizes, a tilted line and a vertical Chinese column,
each in its own colour, on a solid, gradient or noisy background, dark on light or light on dark.
Truth for a gradient background is the gradient's colour at the box's centre: the gradient is linear, so
that is also its mean over the box, the single colour that best stands for it when the box is refilled.
Truth under noise is the colour before the noise was added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.colors import RGB, LineColors
from ocrstack.synth.fonts import find_face
from ocrstack.synth.render import LineSpec, render_page

# Largest error, in levels per channel, a found colour may have: the tests assert it and the benchmark
# exits non-zero past it. A few levels are invisible side by side; 12 leaves room for noise and for
# the tilted and small lines, whose strokes have few fully inked pixels.
TOLERANCE = 12
PAGE_SIZE = (960, 544)  # (width, height)
NOISE_SIGMA = 10.0  # per channel, on every pixel, text included
# A detector's box is looser than the ink; this much of the line's height on every side stands for it.
DETECTOR_PADDING = 0.3


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class ColorCase:
    """One page: the image (BGR uint8), each line's quad (N x 4 x 2) and its true colours."""

    name: str
    image: np.ndarray
    quads: np.ndarray
    truth: list[LineColors]


Background = Callable[[float], RGB]  # x (pixels) -> the background colour in that column


def _solid(color: RGB) -> Background:
    return lambda x: color


def _horizontal_gradient(left: RGB, right: RGB) -> Background:
    def at(x: float) -> RGB:
        t = min(max(x / (PAGE_SIZE[0] - 1), 0.0), 1.0)
        r, g, b = (round(start + (end - start) * t) for start, end in zip(left, right, strict=True))
        return r, g, b

    return at


def _page_background(background: Background) -> np.ndarray:
    width, height = PAGE_SIZE
    row = np.array([background(x)[::-1] for x in range(width)], dtype=np.uint8)  # BGR per column
    return np.ascontiguousarray(np.broadcast_to(row, (height, width, 3)))


def _lines(colors: list[RGB]) -> list[LineSpec]:
    """The page's lines, coloured in turn from ``colors``."""
    latin, hangul, han = find_face("latin"), find_face("hangul"), find_face("han")
    specs = [
        ("Grand Opening Sale 50% OFF", latin, 32, False, 0.0),
        ("서울특별시 종로구 세종대로", hangul, 28, False, 0.0),
        ("Open daily 9:00-21:00, closed on Mondays", latin, 18, False, 0.0),
        ("오늘의 메뉴 안내", hangul, 30, False, 8.0),
        ("한국어 번역", hangul, 48, False, 0.0),
        ("欢迎光临本店", han, 36, True, 0.0),
    ]
    return [
        LineSpec(text, face.path, height, colors[i % len(colors)], vertical, angle, font_index=face.index)
        for i, (text, face, height, vertical, angle) in enumerate(specs)
    ]


def _quad_centre_x(quad: np.ndarray) -> float:
    # Edge coordinates: the pixel column whose centre is at the quad's centre.
    return float(quad[:, 0].mean()) - 0.5


def _page_case(
    name: str, background: Background, colors: list[RGB], noise: bool = False, padding: float = 0.0
) -> ColorCase:
    lines = _lines(colors)
    image, truth = render_page(lines, PAGE_SIZE, _page_background(background), seed=len(name))
    quads = np.stack(
        [_grow(quad, padding * line.height) for (quad, _), line in zip(truth, lines, strict=True)]
    )
    if noise:
        rng = np.random.default_rng(len(name))
        noisy = image.astype(np.float32) + rng.normal(0.0, NOISE_SIGMA, image.shape).astype(np.float32)
        image = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    colours = [
        LineColors(line.color, background(_quad_centre_x(quad)))
        for quad, line in zip(quads, lines, strict=True)
    ]
    return ColorCase(name, image, quads.astype(np.float32), colours)


def _grow(quad: np.ndarray, amount: float) -> np.ndarray:
    """The quad with each corner moved ``amount`` pixels outwards along both of its edges."""
    if amount == 0:
        return quad
    across = quad[3] - quad[0]
    along = quad[1] - quad[0]
    across = across / np.linalg.norm(across) * amount
    along = along / np.linalg.norm(along) * amount
    return quad + np.stack([-along - across, along - across, along + across, -along + across])


def _cut_by_edge(case: ColorCase, keep_fraction: float = 0.6) -> ColorCase:
    """The case's page cut at ``keep_fraction`` of its width: boxes crossing the cut leave the image."""
    width = round(case.image.shape[1] * keep_fraction)
    inside = [i for i, quad in enumerate(case.quads) if quad[:, 0].min() < width - 20]
    return ColorCase(
        f"{case.name}, cut by the edge",
        np.ascontiguousarray(case.image[:, :width]),
        case.quads[inside],
        [case.truth[i] for i in inside],
    )


DARK_TEXTS: list[RGB] = [(20, 20, 20), (30, 60, 200), (200, 30, 30), (20, 110, 50)]
LIGHT_TEXTS: list[RGB] = [(245, 245, 245), (250, 210, 60), (120, 220, 140), (255, 160, 200)]


def color_cases() -> list[ColorCase]:
    """Every case, in a fixed order; the same images on every call."""
    solid = _page_case("dark on light", _solid((245, 240, 230)), DARK_TEXTS)
    return [
        solid,
        _page_case("light on dark", _solid((25, 35, 70)), LIGHT_TEXTS),
        _page_case("on mid blue", _solid((70, 120, 180)), [(255, 255, 255), (255, 230, 120), (10, 20, 40)]),
        _page_case("low contrast", _solid((170, 170, 170)), [(90, 90, 90), (60, 60, 110)]),
        _page_case("light gradient", _horizontal_gradient((250, 235, 200), (190, 215, 250)), DARK_TEXTS),
        _page_case("dark gradient", _horizontal_gradient((20, 20, 60), (80, 35, 45)), LIGHT_TEXTS),
        _page_case(
            "noise, light", _solid((215, 205, 190)), [(40, 40, 50), (40, 70, 180), (170, 40, 40)], noise=True
        ),
        _page_case("noise, dark", _solid((45, 50, 60)), [(225, 220, 200), (230, 200, 80)], noise=True),
        _page_case("detector boxes", _solid((245, 240, 230)), DARK_TEXTS, padding=DETECTOR_PADDING),
        _cut_by_edge(solid),
    ]


def channel_errors(found: list[LineColors], truth: list[LineColors]) -> np.ndarray:
    """Largest per-channel error of each line's text and background (N x 2: text, background)."""

    def as_array(colors: list[LineColors]) -> np.ndarray:
        return np.array([(c.text, c.background) for c in colors], dtype=int).reshape(-1, 2, 3)

    if len(found) != len(truth):
        raise ValueError(f"{len(found)} lines found for {len(truth)} true ones")
    return np.abs(as_array(found) - as_array(truth)).max(axis=2)
