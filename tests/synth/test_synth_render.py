"""Rendered lines and pages: shapes, colours, ground truth that matches the ink, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocrstack.synth.fonts import find_face, find_font, font_families
from ocrstack.synth.render import LineSpec, render_page, render_text_line, text_mask

FG, BG = (200, 30, 10), (240, 235, 220)  # RGB


def _ink(image: np.ndarray, background_bgr: tuple[int, int, int]) -> np.ndarray:
    return np.any(image != np.array(background_bgr, dtype=np.uint8), axis=-1)


def _page_lines() -> list[LineSpec]:
    hangul, latin, han = find_font("hangul"), find_font("latin"), find_face("han")
    return [
        LineSpec("안녕하세요 반갑습니다", hangul, 32),
        LineSpec("OCR serving stack 2024", latin, 28, color=(0, 0, 200)),
        LineSpec("회전된 텍스트", hangul, 30, angle=12),
        LineSpec("中文汉字识别", han.path, 36, font_index=han.index),
        LineSpec("세로쓰기", hangul, 40, vertical=True),
        LineSpec("縱書", han.path, 36, vertical=True, color=(120, 0, 0), font_index=han.index),
    ]


@pytest.mark.parametrize("height", [32, 48])
def test_horizontal_line_shape_colours_and_padding(height: int) -> None:
    crop = render_text_line("한국어 Hello 123", find_font("hangul"), height=height, fg=FG, bg=BG, padding=4)
    assert crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[0] == height
    assert crop.shape[1] > 3 * height  # a line is wider than high
    ink = _ink(crop, BG[::-1])
    assert tuple(crop[0, 0]) == BG[::-1]  # BGR out
    assert not ink[:4].any() and not ink[-4:].any() and not ink[:, :4].any() and not ink[:, -4:].any()
    assert ink[:, 4].any() and ink[:, -5].any()  # tight along the line: ink right after the padding
    # The darkest-from-background pixel is the text colour (full coverage somewhere inside strokes).
    distance = np.abs(crop.astype(int) - np.array(BG[::-1])).sum(-1)
    assert tuple(crop[np.unravel_index(distance.argmax(), distance.shape)]) == FG[::-1]


def test_longer_text_gives_wider_line() -> None:
    font = find_font("hangul")
    assert render_text_line("가나다라마바사", font).shape[1] > render_text_line("가나다", font).shape[1]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_vertical_column_stacks_top_to_bottom() -> None:
    font = find_font("hangul")
    column = render_text_line("가나다라", font, height=48, vertical=True, padding=4)
    assert column.shape[1] == 48 and column.shape[0] > 3 * 48
    assert len(_runs(_ink(column, (255, 255, 255)).any(axis=1))) == 4  # one run of rows per syllable
    # A tall narrow bar above a wide flat one, in the order written.
    ink = _ink(render_text_line("ㅣㅡ", font, height=48, vertical=True), (255, 255, 255))
    (top, top_end), (bottom, bottom_end) = _runs(ink.any(axis=1))
    assert top_end - top > 3 * ink[top:top_end].any(axis=0).sum() / 2
    assert ink[bottom:bottom_end].any(axis=0).sum() > 3 * (bottom_end - bottom)


def test_punctuation_keeps_its_place_on_the_line() -> None:
    """Short texts are not blown up or centred: dots stay near the baseline, in the lower half."""
    crop = render_text_line("...", find_font("latin"), height=48)
    ink_rows = np.flatnonzero(_ink(crop, (255, 255, 255)).any(axis=1))
    assert ink_rows.min() > 24 and len(ink_rows) < 12


def test_unrenderable_text_is_refused() -> None:
    with pytest.raises(ValueError, match="does not draw '한국어'"):
        render_text_line("한국어", find_font("latin"))
    korean_ascii = font_families()["NanumGothic"][0]  # maps a backslash but draws a won sign
    with pytest.raises(ValueError, match=r"does not draw '\\\\'"):
        render_text_line("C:\\dir", korean_ascii)
    with pytest.raises(ValueError, match="no ink"):
        render_text_line("   ", find_font("latin"))
    with pytest.raises(ValueError, match="at least"):
        render_text_line("abc", find_font("latin"), height=8, padding=4)


def test_text_mask_fills_the_line_height() -> None:
    mask = text_mask("Hg 한글", find_font("hangul"), 40)
    rows = np.flatnonzero(mask.any(axis=1))
    assert mask.shape[0] == 40 and rows[0] <= 1 and rows[-1] >= 38


def test_page_shape_and_ground_truth_types() -> None:
    lines = _page_lines()
    page, truth = render_page(lines, size=(960, 544), seed=1)
    assert page.shape == (544, 960, 3) and page.dtype == np.uint8
    assert [text for _, text in truth] == [line.text for line in lines]
    for quad, _ in truth:
        assert quad.shape == (4, 2) and quad.dtype == np.float32
        assert (quad[:, 0] >= 0).all() and (quad[:, 0] <= 960).all()
        assert (quad[:, 1] >= 0).all() and (quad[:, 1] <= 544).all()
    columns = [quad for (quad, _), line in zip(truth, lines, strict=True) if line.vertical]
    assert all(np.ptp(q[:, 1]) > 2 * np.ptp(q[:, 0]) for q in columns)


def test_ground_truth_boxes_hold_the_ink() -> None:
    background = (250, 250, 245)
    page, truth = render_page(_page_lines(), background=background, seed=2)
    ink = _ink(page, background[::-1])
    inside: np.ndarray = np.zeros(ink.shape, dtype=np.uint8)
    for quad, text in truth:
        region: np.ndarray = np.zeros_like(inside)
        # Edge coordinates -> the pixels whose centres lie inside; one pixel of slack for antialiasing
        # along rotated edges.
        cv2.fillPoly(region, [np.round(quad - 0.5).astype(np.int32)], (1,))
        region = cv2.dilate(region, np.ones((3, 3), np.uint8))
        assert ink[region > 0].mean() > 0.1, f"box of {text!r} holds little ink"
        inside |= region
    assert ink[inside > 0].sum() >= 0.999 * ink.sum()  # no ink outside the boxes


def test_upright_boxes_are_tight() -> None:
    page, truth = render_page(_page_lines(), seed=3)
    ink = _ink(page, (255, 255, 255))
    for (quad, text), line in zip(truth, _page_lines(), strict=True):
        if line.angle:
            continue
        x0, y0 = quad.min(axis=0).astype(int)
        x1, y1 = quad.max(axis=0).astype(int)
        box = ink[y0:y1, x0:x1]
        assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any(), text


def test_rotated_line_quad_follows_the_text() -> None:
    (quad, _), *_ = render_page([LineSpec("기울어진 글", find_font("hangul"), 30, angle=20)], seed=0)[1]
    top_edge = quad[1] - quad[0]
    assert np.degrees(np.arctan2(-top_edge[1], top_edge[0])) == pytest.approx(20, abs=0.5)


def test_same_seed_same_page_other_seed_other_layout() -> None:
    lines = _page_lines()
    page_a, truth_a = render_page(lines, seed=7)
    page_b, truth_b = render_page(lines, seed=7)
    np.testing.assert_array_equal(page_a, page_b)
    for (quad_a, _), (quad_b, _) in zip(truth_a, truth_b, strict=True):
        np.testing.assert_array_equal(quad_a, quad_b)
    _, truth_c = render_page(lines, seed=8)
    assert any(not np.array_equal(a, c) for (a, _), (c, _) in zip(truth_a, truth_c, strict=True))


def test_explicit_positions_and_background_image() -> None:
    background = np.full((200, 400, 3), 90, dtype=np.uint8)
    line = LineSpec("Fixed", find_font("latin"), 30, color=(255, 255, 255), position=(50, 60))
    page, [(quad, _)] = render_page([line], size=(400, 200), background=background)
    assert quad.min(axis=0)[0] >= 50 and quad.min(axis=0)[1] >= 60
    assert quad.max(axis=0)[0] < 50 + 120 and quad.max(axis=0)[1] <= 60 + 30
    assert (page[:60] == 90).all() and page.max() == 255
    assert (background == 90).all()  # the caller's image is not drawn on


def test_impossible_layouts_are_clear_errors() -> None:
    font = find_font("latin")
    with pytest.raises(ValueError, match="does not fit"):
        render_page([LineSpec("A long line " * 10, font, 40)], size=(300, 100))
    with pytest.raises(ValueError, match="does not fit"):
        render_page([LineSpec(f"line {i}", font, 40) for i in range(10)], size=(300, 200))
    overlapping = [LineSpec("one", font, 30, position=(10, 10)), LineSpec("two", font, 30, position=(20, 20))]
    with pytest.raises(ValueError, match="overlap"):
        render_page(overlapping, size=(300, 200))
    with pytest.raises(ValueError, match="leaves"):
        render_page([LineSpec("edge", font, 30, position=(280, 10))], size=(300, 200))


def test_tracking_spaces_characters_out() -> None:
    font = find_font("hangul")
    plain = text_mask("국제 도서전", font, 40)
    assert np.array_equal(text_mask("국제 도서전", font, 40, tracking=0.0), plain)
    loose, tight = (text_mask("국제 도서전", font, 40, tracking=t) for t in (0.3, -0.05))
    # Six gaps between seven characters, each 0.3 em wider; the em is about the line height here.
    assert loose.shape[0] == plain.shape[0] and loose.shape[1] - plain.shape[1] > 6 * 0.3 * 40 * 0.7
    assert tight.shape[1] < plain.shape[1]
    column, loose_column = (text_mask("봄맞이", font, 40, vertical=True, tracking=t) for t in (0.0, 0.5))
    assert loose_column.shape[1] == column.shape[1] and loose_column.shape[0] > column.shape[0] + 30
