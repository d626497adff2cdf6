"""Image bytes -> the BGR uint8 array every later stage expects."""

from __future__ import annotations

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """The bytes are not an image OpenCV can read; the message is fit to show to a client."""


def decode_image(data: bytes) -> np.ndarray:
    """Decode encoded image bytes (PNG, JPEG, WebP, BMP, TIFF...) into BGR uint8, H x W x 3.

    Grey-scale is expanded to three channels, transparency is composited on white (text drawn on a
    transparent canvas is usually meant to be read on a light page) and 16-bit or float samples are
    brought to 8 bits. EXIF orientation is not applied, as with the peer.
    """
    if not data:
        raise ImageDecodeError("empty image: no bytes received")
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED keeps alpha and 16-bit samples, which the default flag would silently drop.
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageDecodeError(f"cannot decode image: {len(data)} bytes in no supported format, or corrupt")
    return to_bgr(image)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Bring a decoded array of any common layout to BGR uint8, H x W x 3."""
    image = _to_uint8(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3:
        raise ImageDecodeError(f"unsupported image layout with {image.ndim} dimensions")
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 2:
        grey, alpha = image[..., 0], image[..., 1]
        return composite_on_white(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), alpha)
    if channels == 3:
        return image
    if channels == 4:
        return composite_on_white(image[..., :3], image[..., 3])
    raise ImageDecodeError(f"unsupported image with {channels} channels")


def composite_on_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = alpha.astype(np.float32)[..., None] / 255.0
    blended = bgr.astype(np.float32) * weight + 255.0 * (1.0 - weight)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # 65535 / 257 == 255 exactly, so white stays white.
        return np.rint(image.astype(np.float32) / 257.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        # Float images (TIFF, EXR) are conventionally scaled to 0..1.
        return np.clip(np.rint(np.nan_to_num(image) * 255.0), 0, 255).astype(np.uint8)
    raise ImageDecodeError(f"unsupported sample type {image.dtype}")
