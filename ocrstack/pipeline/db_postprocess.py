"""Differentiable-binarization post-processing: probability map -> scored text quadrilaterals.

DB networks predict a *shrunk* text kernel; each connected region of the thresholded map is boxed,
scored by the mean probability under it, and grown back by the offset the network was trained to
shrink it by (area * unclip_ratio / perimeter).
"""

from __future__ import annotations

import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

from ocrstack.config import DBPostProcess
from ocrstack.pipeline.geometry import clip_quads, order_quad_points, quad_size

# The grown box must clear the minimum size by this margin in map pixels (as PP-OCR does), which
# drops specks that only reached the minimum because of the growth itself.
GROWN_MIN_SIZE_MARGIN = 2


def binarize(prob_map: np.ndarray, params: DBPostProcess) -> np.ndarray:
    """Threshold the map to a {0, 1} uint8 mask; the optional 2 x 2 dilation joins characters that
    the shrunk kernels leave one pixel apart."""
    mask: np.ndarray = (prob_map > params.thresh).astype(np.uint8)
    if params.use_dilation:
        mask = cv2.dilate(mask, np.ones((2, 2), dtype=np.uint8))
    return mask


def min_area_quad(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Smallest rotated rectangle around the points, ordered tl, tr, br, bl, and its shorter side."""
    rect = cv2.minAreaRect(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))
    return order_quad_points(cv2.boxPoints(rect)), float(min(rect[1]))


def mean_inside(prob_map: np.ndarray, polygon: np.ndarray) -> float:
    """Mean probability over the pixels a polygon covers (0.0 when it covers none)."""
    height, width = prob_map.shape
    points = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    x0 = int(np.clip(np.floor(points[:, 0].min()), 0, width - 1))
    x1 = int(np.clip(np.ceil(points[:, 0].max()), 0, width - 1))
    y0 = int(np.clip(np.floor(points[:, 1].min()), 0, height - 1))
    y1 = int(np.clip(np.ceil(points[:, 1].max()), 0, height - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    # Vertices are truncated to whole pixels, as OpenCV rasterises integer polygons.
    shifted = (points - np.array([x0, y0], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [shifted], (1,))
    return float(cv2.mean(prob_map[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip(quad: np.ndarray, unclip_ratio: float) -> np.ndarray:
    """Grow a polygon outwards by ``area * unclip_ratio / perimeter``; returns its points (K x 2)."""
    polygon = Polygon(quad)
    if polygon.length == 0:
        return np.empty((0, 2), dtype=np.float32)
    distance = polygon.area * unclip_ratio / polygon.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(np.asarray(quad), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(distance)
    if not paths:
        return np.empty((0, 2), dtype=np.float32)
    return np.concatenate([np.asarray(path, dtype=np.float32) for path in paths])


def candidate_box(
    prob_map: np.ndarray, contour: np.ndarray, params: DBPostProcess
) -> tuple[np.ndarray, float] | None:
    """One contour -> (grown quad in map pixels, score), or None when it is too small or too faint."""
    quad, short_side = min_area_quad(contour)
    if short_side < params.min_size:
        return None
    # "fast" scores the kernel's rectangle; "slow" the contour itself, better for curved text.
    score = mean_inside(prob_map, quad if params.score_mode == "fast" else contour)
    if score < params.box_thresh:
        return None
    grown = unclip(quad, params.unclip_ratio)
    if len(grown) == 0:
        return None
    quad, short_side = min_area_quad(grown)
    if short_side < params.min_size + GROWN_MIN_SIZE_MARGIN:
        return None
    return quad, score


def scale_to_image(
    quads: np.ndarray, map_size: tuple[int, int], image_size: tuple[int, int], min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Map pixels -> whole image pixels, clipped to the image; returns the quads and a keep mask for
    those whose sides are still longer than ``min_size`` after clipping."""
    (map_h, map_w), (image_h, image_w) = map_size, image_size
    scaled = quads.astype(np.float64)
    scaled[..., 0] = np.round(scaled[..., 0] / map_w * image_w)
    scaled[..., 1] = np.round(scaled[..., 1] / map_h * image_h)
    ordered = np.stack([order_quad_points(q) for q in scaled]) if len(scaled) else quads
    clipped = clip_quads(ordered, image_h, image_w)
    keep = np.array([min(quad_size(q)) > min_size for q in clipped], dtype=bool)
    return clipped, keep


def boxes_from_probability_map(
    prob_map: np.ndarray, params: DBPostProcess, original_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Text quads from one H x W probability map.

    ``original_size`` is the (height, width) of the image the map was computed from, whatever size
    the network saw. Returns float32 quads (N x 4 x 2, tl/tr/br/bl, whole pixels of that image) and
    float32 scores (N), in contour order.
    """
    prob_map = np.asarray(prob_map, dtype=np.float32)
    if prob_map.ndim != 2:
        raise ValueError(f"expected an H x W probability map, got shape {prob_map.shape}")
    contours, _ = cv2.findContours(binarize(prob_map, params), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = [candidate_box(prob_map, c, params) for c in contours[: params.max_candidates]]
    kept = [f for f in found if f is not None]
    if not kept:
        return np.zeros((0, 4, 2), dtype=np.float32), np.zeros((0,), dtype=np.float32)
    quads = np.stack([quad for quad, _ in kept])
    scores = np.array([score for _, score in kept], dtype=np.float32)
    map_size = (prob_map.shape[0], prob_map.shape[1])
    quads, keep = scale_to_image(quads, map_size, original_size, params.min_size)
    return quads[keep].astype(np.float32), scores[keep]
