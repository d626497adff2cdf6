from dataclasses import replace

import cv2
import numpy as np
import pytest

from ocrstack.config import DBPostProcess
from ocrstack.pipeline.db_postprocess import (
    binarize,
    boxes_from_probability_map,
    mean_inside,
    min_area_quad,
    unclip,
)

PARAMS = DBPostProcess()


def rect_map(shape=(120, 240), rects=((40, 60, 50, 150, 0.9),)) -> np.ndarray:
    """A probability map with rectangles (y0, y1, x0, x1, p) of constant probability."""
    prob = np.zeros(shape, dtype=np.float32)
    for y0, y1, x0, x1, p in rects:
        prob[y0:y1, x0:x1] = p
    return prob


def grown_extent(width: float, height: float, ratio: float = 1.6) -> float:
    return width * height * ratio / (2 * (width + height))


def test_one_rectangle_is_found_and_grown():
    quads, scores = boxes_from_probability_map(rect_map(), PARAMS, (120, 240))
    assert quads.shape == (1, 4, 2) and quads.dtype == np.float32
    # The dilated kernel covers one more column and row than the 100 x 20 region, at probability 0.
    assert scores.dtype == np.float32 and scores[0] == pytest.approx(0.9 * 100 * 20 / (101 * 21), abs=1e-3)
    # Pixels 50..149 x 40..59, dilated by one: a 100 x 20 kernel grown by about 13 px a side.
    d = grown_extent(100, 20)
    (x0, y0), (x1, _), (_, y1) = quads[0, 0], quads[0, 1], quads[0, 2]
    assert x0 == pytest.approx(50 - d, abs=2) and x1 == pytest.approx(150 + d, abs=2)
    assert y0 == pytest.approx(40 - d, abs=2) and y1 == pytest.approx(60 + d, abs=2)
    assert np.array_equal(quads, np.round(quads))  # whole pixels


def test_boxes_are_scaled_to_the_original_image():
    small, _ = boxes_from_probability_map(rect_map(), PARAMS, (120, 240))
    large, _ = boxes_from_probability_map(rect_map(), PARAMS, (360, 480))
    np.testing.assert_allclose(large[..., 0], np.round(small[..., 0] * 2), atol=1)
    np.testing.assert_allclose(large[..., 1], np.round(small[..., 1] * 3), atol=1)


@pytest.mark.parametrize("degrees", [15, -15, 35])
def test_rotated_rectangle_gives_a_rotated_ordered_quad(degrees):
    """A 160 x 24 bar turned clockwise on screen by ``degrees``."""
    a = np.deg2rad(degrees)
    along, across = np.array([np.cos(a), np.sin(a)]) * 80, np.array([-np.sin(a), np.cos(a)]) * 12
    corners = np.array([150, 150]) + np.array(
        [-along - across, along - across, along + across, -along + across]
    )
    prob = np.zeros((300, 300), dtype=np.float32)
    cv2.fillPoly(prob, [np.round(corners).astype(np.int32)], (0.95,))
    quads, scores = boxes_from_probability_map(prob, PARAMS, (300, 300))
    assert len(quads) == 1 and scores[0] > 0.8
    tl, tr, br, bl = quads[0]
    angle = np.degrees(np.arctan2(tr[1] - tl[1], tr[0] - tl[0]))
    assert angle == pytest.approx(degrees, abs=2)
    assert np.linalg.norm(tr - tl) > 3 * np.linalg.norm(bl - tl)  # a long top edge: tl was found
    assert np.allclose(quads[0].mean(axis=0), (150, 150), atol=2)
    assert br[1] > tl[1]


def test_faint_small_and_background_regions_are_dropped():
    rects = (
        (10, 30, 10, 100, 0.9),  # kept
        (60, 80, 10, 100, 0.4),  # above thresh, below box_thresh
        (100, 102, 200, 202, 0.99),  # 2 x 2 speck
    )
    quads, _ = boxes_from_probability_map(rect_map((120, 240), rects), PARAMS, (120, 240))
    assert len(quads) == 1 and quads[0, :, 1].max() < 50


def test_box_thresh_is_a_knob():
    rects = ((60, 80, 10, 100, 0.4),)
    quads, _ = boxes_from_probability_map(rect_map(rects=rects), replace(PARAMS, box_thresh=0.35), (120, 240))
    assert len(quads) == 1


def test_boxes_touching_the_border_are_clipped():
    quads, _ = boxes_from_probability_map(rect_map(rects=((0, 20, 0, 240, 0.9),)), PARAMS, (120, 240))
    assert len(quads) == 1
    assert quads[..., 0].min() == 0 and quads[..., 0].max() == 239 and quads[..., 1].min() == 0


def test_empty_map_gives_empty_arrays():
    quads, scores = boxes_from_probability_map(np.zeros((64, 64), np.float32), PARAMS, (64, 64))
    assert quads.shape == (0, 4, 2) and scores.shape == (0,)


def test_max_candidates_caps_the_contours_examined():
    rects = tuple((10 + 25 * i, 25 + 25 * i, 10, 200, 0.9) for i in range(4))
    assert len(boxes_from_probability_map(rect_map((120, 240), rects), PARAMS, (120, 240))[0]) == 4
    capped = replace(PARAMS, max_candidates=2)
    assert len(boxes_from_probability_map(rect_map((120, 240), rects), capped, (120, 240))[0]) == 2


def test_dilation_joins_regions_one_pixel_apart():
    prob = rect_map(rects=((40, 60, 50, 100, 0.9), (40, 60, 101, 150, 0.9)))
    assert len(boxes_from_probability_map(prob, PARAMS, (120, 240))[0]) == 1
    assert len(boxes_from_probability_map(prob, replace(PARAMS, use_dilation=False), (120, 240))[0]) == 2


def test_slow_score_follows_the_contour():
    # An L shape: its bounding rectangle is half empty, its contour is not.
    prob = rect_map(rects=((20, 40, 20, 200, 0.9), (20, 100, 20, 40, 0.9)))
    _, fast = boxes_from_probability_map(prob, replace(PARAMS, box_thresh=0.0), (120, 240))
    _, slow = boxes_from_probability_map(prob, replace(PARAMS, box_thresh=0.0, score_mode="slow"), (120, 240))
    assert slow[0] > 0.85 and fast[0] < slow[0] - 0.2


def test_binarize():
    prob = np.array([[0.1, 0.31], [0.3, 0.9]], dtype=np.float32)
    assert binarize(prob, replace(PARAMS, use_dilation=False)).tolist() == [[0, 1], [0, 1]]
    assert binarize(np.pad(prob, 1), PARAMS).sum() > 2


def test_mean_inside_and_unclip_and_min_area_quad():
    prob = rect_map()
    quad = np.array([[50, 40], [149, 40], [149, 59], [50, 59]], dtype=np.float32)
    assert mean_inside(prob, quad) == pytest.approx(0.9, abs=1e-6)
    grown = unclip(quad, 1.6)
    _, short = min_area_quad(grown)
    assert short == pytest.approx(19 + 2 * grown_extent(99, 19), abs=2)
    assert unclip(np.zeros((4, 2), np.float32), 1.6).shape == (0, 2)
