import itertools

import cv2
import numpy as np
import pytest

from ocrstack.pipeline.geometry import (
    clip_quads,
    crop_quad,
    is_vertical,
    order_quad_points,
    quad_size,
    rotate_to_horizontal,
)


def rotated_rect(cx: float, cy: float, w: float, h: float, degrees: float) -> np.ndarray:
    """tl, tr, br, bl of a w x h rectangle turned clockwise on screen by ``degrees``."""
    a = np.deg2rad(degrees)
    ux, uy = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    c = np.array([cx, cy])
    return np.array(
        [
            c - ux * w / 2 - uy * h / 2,
            c + ux * w / 2 - uy * h / 2,
            c + ux * w / 2 + uy * h / 2,
            c - ux * w / 2 + uy * h / 2,
        ],
        dtype=np.float32,
    )


@pytest.mark.parametrize("degrees", [0, 5, -5, 30, -30, 60, -60])
def test_order_quad_points_from_every_permutation(degrees):
    expected = rotated_rect(200, 150, 200, 40, degrees)
    for permutation in itertools.permutations(range(4)):
        np.testing.assert_allclose(order_quad_points(expected[list(permutation)]), expected, atol=1e-4)


def test_order_quad_points_axis_aligned_and_dtype():
    quad = np.array([[10, 20], [0, 0], [10, 0], [0, 20]])
    out = order_quad_points(quad)
    assert out.dtype == np.float32
    assert out.tolist() == [[0, 0], [10, 0], [10, 20], [0, 20]]


def test_quad_size_takes_longer_edges():
    quad = np.array([[0, 0], [100, 0], [102, 30], [0, 31]], dtype=np.float32)
    width, height = quad_size(quad)
    assert width == 102 and height == 31


def test_crop_axis_aligned_quad_equals_slice():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    quad = np.array([[10, 5], [50, 5], [50, 25], [10, 25]], dtype=np.float32)
    crop = crop_quad(image, quad)
    assert crop.shape == (20, 40, 3)
    np.testing.assert_array_equal(crop, image[5:25, 10:50])


def test_crop_rotated_quad_is_upright():
    # A bar pattern, turned by 25 degrees, is read back upright through its turned quad.
    pattern = np.full((40, 160, 3), 255, dtype=np.uint8)
    pattern[:, ::20] = 0
    pattern[:20, :, 1] = 0  # the top half differs, so an upside-down crop would be caught
    canvas = np.full((400, 400, 3), 255, dtype=np.uint8)
    canvas[180:220, 120:280] = pattern
    matrix = cv2.getRotationMatrix2D((200, 200), -25, 1.0)  # clockwise on screen
    turned = cv2.warpAffine(canvas, matrix, (400, 400), flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255))
    quad = rotated_rect(200, 200, 160, 40, 25)
    crop = crop_quad(turned, quad)
    assert abs(crop.shape[0] - 40) <= 1 and abs(crop.shape[1] - 160) <= 1
    diff = np.abs(crop[2:38, 2:158].astype(int) - pattern[2:38, 2:158].astype(int))
    assert diff.mean() < 25


def test_crop_of_degenerate_quad_is_at_least_one_pixel():
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    quad = np.array([[2, 2], [2.5, 2], [2.5, 2.5], [2, 2.5]], dtype=np.float32)
    assert crop_quad(image, quad).shape[:2] == (1, 1)


def test_crop_at_border_replicates_edges():
    image = np.full((20, 20, 3), 200, dtype=np.uint8)
    quad = np.array([[-5, 0], [10, 0], [10, 10], [-5, 10]], dtype=np.float32)
    assert (crop_quad(image, quad) > 150).all()


@pytest.mark.parametrize(
    ("h", "w", "vertical"), [(30, 20, True), (29, 20, False), (20, 30, False), (100, 1, True), (5, 0, True)]
)
def test_is_vertical(h, w, vertical):
    assert is_vertical(h, w) is vertical


def test_rotate_to_horizontal_puts_column_top_on_the_left():
    column = np.zeros((30, 10, 3), dtype=np.uint8)
    column[:10] = 255  # the top of the column
    row = rotate_to_horizontal(column)
    assert row.shape == (10, 30, 3)
    assert (row[:, :10] == 255).all() and (row[:, 10:] == 0).all()


def test_clip_quads():
    quads = np.array([[[-3, -1], [120, 5], [120, 70], [-3, 70]]], dtype=np.float32)
    clipped = clip_quads(quads, 50, 100)
    assert clipped[..., 0].min() == 0 and clipped[..., 0].max() == 99
    assert clipped[..., 1].min() == 0 and clipped[..., 1].max() == 49
    assert quads[0, 0, 0] == -3  # the input is left alone
