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


# Conversions run on strips of about this many pixels, so that their float temporaries stay a few MB
# whatever the image's size: a full-size float32 copy of a 40-megapixel RGBA image alone is 640 MB.
STRIP_PIXELS = 1 << 18


def _strips(image: np.ndarray) -> list[slice]:
    rows = max(1, STRIP_PIXELS // max(1, image.shape[1]))
    return [slice(top, top + rows) for top in range(0, image.shape[0], rows)]


def composite_on_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = np.empty(bgr.shape, np.uint8)
    for rows in _strips(bgr):
        weight = alpha[rows].astype(np.float32)[..., None]
        weight /= 255.0
        blended = bgr[rows].astype(np.float32)
        blended *= weight
        blended += 255.0 * (1.0 - weight)
        out[rows] = np.clip(np.rint(blended, out=blended), 0, 255, out=blended)
    return out


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # Rounded v / 257 in one pass with no float copy; 65535 / 257 == 255 exactly, so white stays white.
        return cv2.convertScaleAbs(image, alpha=1.0 / 257.0)
    if np.issubdtype(image.dtype, np.floating):
        # Float images (TIFF, EXR) are conventionally scaled to 0..1.
        out = np.empty(image.shape, np.uint8)
        for rows in _strips(image):
            out[rows] = np.clip(np.rint(np.nan_to_num(image[rows]) * 255.0), 0, 255)
        return out
    raise ImageDecodeError(f"unsupported sample type {image.dtype}")
