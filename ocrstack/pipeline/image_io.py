"""Image bytes -> the BGR uint8 array every later stage expects."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import JpegImagePlugin


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


@dataclass(frozen=True)
class WorkingImage:
    """An image decoded at most ``max_side`` pixels a side, and the size of the image it was sent as."""

    pixels: np.ndarray  # BGR uint8, H x W x 3
    width: int  # of the encoded image: the coordinates answers are given in
    height: int

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) factors from the working pixels to the encoded image's."""
        return self.width / self.pixels.shape[1], self.height / self.pixels.shape[0]


def decode_working_image(data: bytes, max_side: int) -> WorkingImage:
    """Decode, brought down (never up) to at most ``max_side`` pixels on the long side, as early as the
    codec allows: a JPEG at least twice that size is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself
    (DCT scaling, the full-size pixels never exist); other formats are decoded, converted to BGR, and
    resized, with the full-size array freed before this returns. Otherwise as :func:`decode_image`."""
    reduction = _jpeg_reduction(data, max_side)
    if reduction > 1:
        flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
        # IMREAD_COLOR would turn the image by its EXIF orientation; decode_image does not, nor does this.
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag[reduction] | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None or image.size == 0:
            raise ImageDecodeError(f"cannot decode image: {len(data)} bytes of corrupt JPEG data")
        height, width = _jpeg_size(data) or (image.shape[0] * reduction, image.shape[1] * reduction)
    else:
        image = decode_image(data)
        height, width = image.shape[:2]
    return WorkingImage(shrink_to(image, max_side), width, height)


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    """The image with its long side brought down to ``max_side`` (area averaging); as it is if it fits."""
    long = max(image.shape[:2])
    if long <= max_side:
        return image
    scale = max_side / long
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's header, None if the bytes are not a readable JPEG header."""
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    try:
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as image:
            return image.height, image.width
    except Exception:  # hostile bytes can fail the parser in any way: decode in full, which reports it
        return None


def _jpeg_reduction(data: bytes, max_side: int) -> int:
    """The largest of 2, 4, 8 that keeps a JPEG's long side at least ``max_side``, else 1."""
    size = _jpeg_size(data)
    if size is None:
        return 1
    long = max(size)
    return next((factor for factor in (8, 4, 2) if long // factor >= max_side), 1)


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
