"""Line colours on rendered pages with known colours, and the edge cases of boxes and inputs."""

from __future__ import annotations

import numpy as np
import pytest

from devtools.color_cases import TOLERANCE, ColorCase, channel_errors, color_cases
from gateway.colors import FALLBACK, LineColors, line_colors, rgb_to_hex
from ocrstack.synth.fonts import Script, find_face
from ocrstack.synth.render import render_text_line


@pytest.fixture(scope="module")
def cases() -> list[ColorCase]:
    return color_cases()


def _report(case: ColorCase, found: list[LineColors], errors: np.ndarray) -> list[str]:
    return [
        f"{case.name}, line {i}: found {f}, truth {t}"
        for i, (f, t, e) in enumerate(zip(found, case.truth, errors, strict=True))
        if e.max() > TOLERANCE
    ]


def test_colours_are_within_tolerance_on_every_case(cases: list[ColorCase]) -> None:
    """Solid, gradient and noisy backgrounds; dark on light, light on dark, coloured text; Latin and
    Hangul lines, a small, a large and a tilted one and a vertical Chinese column; tight and loose boxes;
    boxes cut by the image's edge."""
    failures = []
    for case in cases:
        found = line_colors(case.image, case.quads)
        failures += _report(case, found, channel_errors(found, case.truth))
    assert not failures, "\n".join(failures)


def test_the_check_fails_on_a_wrong_colour(cases: list[ColorCase]) -> None:
    """The comparison above can fail: one level past the tolerance on one channel is caught."""
    case = cases[0]
    found = line_colors(case.image, case.quads)
    r, g, b = case.truth[0].text
    off = TOLERANCE + 1
    wrong = [LineColors((r + off if r < 128 else r - off, g, b), case.truth[0].background), *case.truth[1:]]
    assert len(_report(case, found, channel_errors(found, wrong))) == 1


def test_cases_cover_what_they_claim(cases: list[ColorCase]) -> None:
    names = {case.name for case in cases}
    assert {"dark on light", "light on dark", "light gradient", "noise, light"} <= names
    gradient = next(case for case in cases if case.name == "light gradient")
    assert len({t.background for t in gradient.truth}) > 1  # the truth follows the gradient
    cut = next(case for case in cases if "cut" in case.name)
    width = cut.image.shape[1]
    assert any(quad[:, 0].max() > width for quad in cut.quads)  # some boxes do leave the image


def _line(fg: tuple[int, int, int], bg: tuple[int, int, int], script: Script = "latin") -> np.ndarray:
    face = find_face(script)
    text = "한국어 읽기" if script == "hangul" else "Reading text"
    return render_text_line(text, face.path, 40, fg=fg, bg=bg, font_index=face.index)


def _full_quad(width: float, height: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    return np.array([[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height]], np.float32)


@pytest.mark.parametrize("script", ["latin", "hangul"])
def test_a_box_partly_outside_the_image(script: Script) -> None:
    fg, bg = (200, 40, 30), (240, 240, 210)
    line = _line(fg, bg, script)
    height, width = line.shape[:2]
    image = np.ascontiguousarray(line[height // 3 :, width // 2 :])  # left half and top third cut off
    quad = _full_quad(width, height, -(width // 2), -(height // 3))
    (colors,) = line_colors(image, quad[None])
    assert max(abs(a - b) for a, b in zip(colors.text + colors.background, fg + bg, strict=True)) <= TOLERANCE


def test_no_quads_give_no_colours() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    assert line_colors(image, np.zeros((0, 4, 2), np.float32)) == []
    assert line_colors(image, np.array([])) == []


def test_boxes_with_nothing_to_measure_get_the_fallback() -> None:
    image = np.full((20, 30, 3), 100, np.uint8)
    outside = _full_quad(10, 10, 50, 50)
    not_finite = np.full((4, 2), np.nan, np.float32)
    assert line_colors(image, np.stack([outside, not_finite])) == [FALLBACK, FALLBACK]


def test_degenerate_and_plain_boxes_contrast_with_their_background() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = (30, 20, 10)  # BGR: dark on the left
    image[:, 20:] = (230, 240, 250)  # light on the right
    point = np.full((4, 2), 5.0, np.float32)  # all four corners in one place
    line = np.array([[25, 10], [35, 10], [35, 10], [25, 10]], np.float32)  # no height
    plain = _full_quad(10, 10, 22, 5)
    dark, light, plain_light = line_colors(image, np.stack([point, line, plain]))
    assert dark == LineColors((255, 255, 255), (10, 20, 30))
    assert light == plain_light == LineColors((0, 0, 0), (250, 240, 230))


def test_hex() -> None:
    assert rgb_to_hex((255, 0, 16)) == "#ff0010"
    assert LineColors((255, 0, 16), (1, 2, 3)).hex() == {"text": "#ff0010", "background": "#010203"}


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        line_colors(np.zeros((10, 10), np.uint8), np.zeros((0, 4, 2)))
    with pytest.raises(ValueError, match="N x 4 x 2"):
        line_colors(np.zeros((10, 10, 3), np.uint8), np.zeros((1, 3, 2)))
