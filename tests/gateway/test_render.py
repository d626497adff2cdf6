"""Translations drawn in place: boxes painted over, new text inked inside them, nothing else touched."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from gateway.render import RenderLine, encode_png, fill_margin, font_for_text, render_translations
from ocrstack.synth.fonts import covers, find_face
from ocrstack.synth.render import LineSpec, render_page

BACKGROUND = (240, 235, 220)  # RGB, of the page and of every box
OLD_TEXT = (20, 20, 120)
NEW_TEXT = (0, 110, 0)
CLOSE = 10  # levels per channel within which a pixel counts as a given colour
TRANSLATIONS = {
    "latin": "Hello, nice to meet you",
    "hangul": "안녕하세요 반갑습니다",
    "han": "你好，很高兴认识你",
}


def _page() -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
    hangul, latin, han = find_face("hangul"), find_face("latin"), find_face("han")
    specs = [
        LineSpec("안녕하세요 반갑습니다", hangul.path, 32, OLD_TEXT),
        LineSpec("Good morning everyone", latin.path, 28, OLD_TEXT),
        LineSpec("中文汉字识别", han.path, 36, OLD_TEXT, font_index=han.index),
        LineSpec("회전된 텍스트", hangul.path, 30, OLD_TEXT, angle=20),
        LineSpec("세로쓰기", hangul.path, 40, OLD_TEXT, vertical=True),
    ]
    image, truth = render_page(specs, background=BACKGROUND)
    return image, [quad for quad, _ in truth], [spec.vertical for spec in specs]


@pytest.fixture(scope="module")
def page() -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
    return _page()


def _lines(quads: list[np.ndarray], vertical: list[bool], texts: Sequence[str | None]) -> list[RenderLine]:
    return [
        RenderLine(quad, text, NEW_TEXT, BACKGROUND, is_vertical)
        for quad, text, is_vertical in zip(quads, texts, vertical, strict=True)
    ]


def _inside(shape: tuple[int, ...], quad: np.ndarray, grow: int = 0) -> np.ndarray:
    """Pixels whose centre is inside the quad, or within ``grow`` pixels of it."""
    mask = np.zeros(shape[:2], np.uint8)
    points = [np.rint(quad - 0.5).astype(np.int32)]
    cv2.fillPoly(mask, points, (1,))
    if grow:
        cv2.polylines(mask, points, True, (1,), thickness=2 * grow + 1)
    return mask.astype(bool)


def _near(image: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(rgb[::-1])) <= CLOSE).all(axis=-1)


def _rendered(page, texts: Sequence[str | None]) -> np.ndarray:
    image, quads, vertical = page
    return render_translations(image, _lines(quads, vertical, texts))


TEXTS = ["Hello, nice to meet you", "좋은 아침입니다 여러분", "Chinese characters", "rotated", "縦書き"]


def test_boxes_hold_background_and_new_ink_and_no_old_ink(page) -> None:
    image, quads, _ = page
    out = _rendered(page, TEXTS)
    assert out.shape == image.shape and out.dtype == np.uint8
    for quad, text in zip(quads, TEXTS, strict=True):
        box = _inside(out.shape, quad)
        assert _near(out, BACKGROUND)[box].mean() > 0.5, text  # most of the box is background
        assert _near(out, NEW_TEXT)[box].sum() >= 20, text  # fully inked pixels of the new colour
        grown = _inside(out.shape, quad, fill_margin(quad))
        assert not _near(out, OLD_TEXT)[grown].any(), text  # the old glyphs are gone, edges included
        assert _near(image, OLD_TEXT)[box].any()  # ... and were there before


def _off_new_colours(image: np.ndarray) -> np.ndarray:
    """Pixels that are no blend of the background and the new text colour (an old glyph's edge)."""
    background, text = np.array(BACKGROUND[::-1], float), np.array(NEW_TEXT[::-1], float)
    axis = text - background
    t = np.clip((image.astype(float) - background) @ axis / (axis @ axis), 0, 1)
    return np.linalg.norm(image - (background + t[..., None] * axis), axis=-1) > 4


def test_a_box_too_tight_for_the_old_glyphs_still_covers_their_edges(page) -> None:
    """A detector's box may cut a pixel into the ink; the painted margin takes the rest."""
    image, quads, vertical = page
    shrunk = [quad + np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32) for quad in quads[:3]]
    out = render_translations(image, _lines(shrunk, vertical[:3], TEXTS[:3]))
    for quad in quads[:3]:
        near_box = _inside(out.shape, quad, 1)
        assert _off_new_colours(image)[near_box].any()  # old ink was there, up to the box's edge
        assert not _off_new_colours(out)[near_box].any()


def test_pixels_outside_every_box_are_unchanged(page) -> None:
    image, quads, _ = page
    out = _rendered(page, TEXTS)
    touched = np.zeros(image.shape[:2], bool)
    for quad in quads:
        touched |= _inside(image.shape, quad, fill_margin(quad) + 1)
    assert np.array_equal(out[~touched], image[~touched])
    assert not np.array_equal(out[touched], image[touched])


def test_input_image_is_not_modified(page) -> None:
    image = page[0]
    before = image.copy()
    _rendered(page, TEXTS)
    assert np.array_equal(image, before)


@pytest.mark.parametrize("script", sorted(TRANSLATIONS))
def test_each_script_renders_with_a_font_that_covers_it(page, script: str) -> None:
    text = TRANSLATIONS[script]
    face = font_for_text(text)
    assert face is not None and covers(face.path, text)  # no character falls back to a box glyph
    image, quads, _ = page
    quad = quads[0]
    out = render_translations(image, [RenderLine(quad, text, NEW_TEXT, BACKGROUND)])
    ink = _near(out, NEW_TEXT) & _inside(out.shape, quad)
    assert ink.sum() >= 50
    rows = np.flatnonzero(ink.any(axis=1))
    assert rows[-1] - rows[0] >= 0.4 * (quad[:, 1].max() - quad[:, 1].min())  # sized to the box


@pytest.mark.parametrize("text", ["", None, "   "])
def test_no_text_leaves_only_background(page, text: str | None) -> None:
    image, quads, vertical = page
    out = render_translations(image, _lines(quads, vertical, [text] * len(quads)))
    for quad in quads:
        assert _near(out, BACKGROUND)[_inside(out.shape, quad)].all()


def _ink_angle(ink: np.ndarray) -> float:
    """Direction of the ink's longest axis, degrees counter-clockwise as seen on screen."""
    ys, xs = np.nonzero(ink)
    points = np.stack([xs, -ys], axis=1).astype(float)
    _, _, axes = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)
    dx, dy = axes[0]
    return float(np.degrees(np.arctan2(dy, dx)) + 180) % 180


def test_tilted_line_is_redrawn_tilted(page) -> None:
    image, quads, _ = page
    quad = quads[3]  # rendered at 20 degrees
    out = render_translations(image, [RenderLine(quad, "tilted text", NEW_TEXT, BACKGROUND)])
    assert abs(_ink_angle(_near(out, NEW_TEXT)) - 20) < 5  # all the new ink, wherever it went


def test_vertical_line_stacks_characters_top_to_bottom(page) -> None:
    image, quads, _ = page
    quad = quads[4]
    out = render_translations(image, [RenderLine(quad, "가나다", NEW_TEXT, BACKGROUND, vertical=True)])
    ink = _near(out, NEW_TEXT) & _inside(out.shape, quad)
    rows = ink.any(axis=1)
    runs = np.flatnonzero(np.diff(np.concatenate([[0], rows.astype(int), [0]])) == 1)
    assert len(runs) == 3  # one run of inked rows per syllable, one under the other
    ys, xs = np.nonzero(ink)
    assert np.ptp(ys) > 2 * np.ptp(xs)


def test_long_translation_stays_inside_its_box(page) -> None:
    image, quads, _ = page
    quad = quads[2]
    text = "a translation several times longer than the original text it replaces"
    out = render_translations(image, [RenderLine(quad, text, NEW_TEXT, BACKGROUND)])
    box = _inside(out.shape, quad)
    assert _near(out, NEW_TEXT)[box].sum() >= 20
    changed = (out != image).any(axis=-1)
    assert not (changed & ~_inside(out.shape, quad, fill_margin(quad) + 1)).any()


def test_png_decodes_to_the_same_image(page) -> None:
    out = _rendered(page, TEXTS)
    decoded = cv2.imdecode(np.frombuffer(encode_png(out), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == out.shape and np.array_equal(decoded, out)


def test_boxes_partly_outside_or_degenerate_do_not_fail() -> None:
    image = np.full((40, 60, 3), 200, np.uint8)
    black, white = (0, 0, 0), (255, 255, 255)
    lines = [
        RenderLine(np.array([[-30, 5], [40, 5], [40, 35], [-30, 35]], np.float32), "edge", black, white),
        RenderLine(np.full((4, 2), 10, np.float32), "point", black, white),
        RenderLine(np.full((4, 2), np.nan, np.float32), "nan", black, white),
        RenderLine(
            np.array([[100, 100], [120, 100], [120, 110], [100, 110]], np.float32), "away", black, white
        ),
    ]
    out = render_translations(image, lines)
    assert out.shape == image.shape
    assert (out[10:30, 0:35] != 200).all(axis=-1).any()  # the part inside the image was redrawn


def test_bad_image_is_refused() -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        render_translations(np.zeros((4, 4), np.uint8), [])
