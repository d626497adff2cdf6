"""Quadrilateral helpers: point order, size, perspective crop, orientation."""

from __future__ import annotations

import cv2
import numpy as np

from ocrstack.config import VERTICAL_ASPECT_RATIO


def order_quad_points(quad: np.ndarray) -> np.ndarray:
    """Return the four points as top-left, top-right, bottom-right, bottom-left (float32, 4 x 2).

    The two left-most points form the left edge and the two right-most the right edge; on each edge
    the upper point comes first. Unlike ordering by x + y, this stays right for long boxes tilted
    past 45 degrees, which is how lines of text are usually tilted when they are tilted that much.
    """
    points = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.stack([left[0], right[0], right[1], left[1]]).astype(np.float32)


def quad_size(quad: np.ndarray) -> tuple[int, int]:
    """(width, height) of an ordered quad in whole pixels: the longer of each pair of opposite edges."""
    tl, tr, br, bl = np.asarray(quad, dtype=np.float32)
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    return int(width), int(height)


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp the region inside an ordered quad to an upright crop of the quad's width and height.

    Edges are replicated rather than filled with black, so that a box touching the border does not
    give the recogniser a dark stripe to read as a character.
    """
    width, height = quad_size(quad)
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(quad, dtype=np.float32), target)
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def is_vertical(crop_h: int, crop_w: int) -> bool:
    """Whether a crop this shape holds a vertical line of text."""
    return crop_h / max(crop_w, 1) >= VERTICAL_ASPECT_RATIO


def rotate_to_horizontal(crop: np.ndarray) -> np.ndarray:
    """Turn a vertical crop 90 degrees counter-clockwise, so that the top of the column is on the left."""
    return cv2.rotate(crop, cv2.ROTATE_90_COUNTERCLOCKWISE)


def clip_quads(quads: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip points to the image: x to [0, width - 1], y to [0, height - 1]."""
    clipped = np.asarray(quads, dtype=np.float32).copy()
    clipped[..., 0] = np.clip(clipped[..., 0], 0, max(width - 1, 0))
    clipped[..., 1] = np.clip(clipped[..., 1], 0, max(height - 1, 0))
    return clipped
