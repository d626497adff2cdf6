"""Client image input -> a checked BGR array, or an ``InputError`` the gateway sends back as a 4xx.

Status codes, all for inputs the client has to change:

- 400 the bytes are not a usable image: empty, not PNG/JPEG/WebP/BMP/TIFF, a corrupt header or pixel
  data, an image smaller than ``min_side``, invalid base64.
- 413 too big: more bytes than ``max_bytes``, or a header declaring more pixels, a longer side or a
  larger decoded size than the limits. Dimensions are judged from the header alone, so a decompression
  bomb (~100 KB of compressed zeros declaring 30000 x 30000, 2.7 GB as BGR) is refused before any pixels
  are decoded. The decoded size is pixels x channels x bytes per sample, as the decoder will hold them: a
  16-bit RGBA PNG costs 8 bytes a pixel, not 3, and is refused at a fraction of the pixel limit.
- 415 a media type we do not read: a Content-Type or data-URL type outside the allowed list, or a
  real image in a format OpenCV cannot decode here (GIF).

Pixels are decoded by ``ocrstack.pipeline.image_io.decode_image`` only; this module reads headers.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from ocrstack.pipeline.image_io import ImageDecodeError, WorkingImage, decode_image, decode_working_image

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# Pillow's header parsers, called directly rather than through ``Image.open``: ``Image.open`` runs
# Pillow's own decompression-bomb check (a process-wide threshold that warns, or raises without
# telling the size), and our limits should decide, with a message that names the dimensions.
_HEADER_READERS: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}
# What decode_image can turn into pixels. OpenCV 4.11's wheel has no GIF decoder, so a GIF is
# identified (for a clear 415) but not accepted.
DECODABLE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF"})

ALLOWED_CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/jpg",  # not registered, but sent by enough clients that refusing it would only confuse
    "image/webp",
    "image/bmp",
    "image/tiff",
    "application/octet-stream",
)


class InputError(Exception):
    """A request input the gateway refuses; ``status`` (a 4xx) and ``message`` can be sent to the
    client as they are, and ``kind`` is a stable code for clients that branch on the reason."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    """What the gateway accepts. ``min_side`` is 8 because no glyph is legible in fewer pixels (the
    smallest bitmap fonts are 5 x 7 plus a margin): anything smaller is a tracking pixel or a
    placeholder, and upscaling it would only show the detector noise."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = 40_000_000
    max_side: int = 12_000
    min_side: int = 8
    # Pixels x channels x bytes per sample as decoded: an 8-bit RGBA image at the pixel limit passes,
    # a 16-bit RGBA one only up to 20 megapixels.
    max_decoded_bytes: int = 160_000_000

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.max_side, self.min_side, self.max_decoded_bytes) < 1:
            raise ValueError(f"image limits must be positive: {self}")
        if self.min_side > self.max_side:
            raise ValueError(f"min_side {self.min_side} exceeds max_side {self.max_side}")


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # Pillow's name: PNG, JPEG, WEBP, BMP, TIFF, GIF
    channels: int = field(default=3, compare=False)  # as decoded, before the conversion to BGR
    sample_bytes: int = field(default=1, compare=False)

    @property
    def decoded_bytes(self) -> int:
        """What the decoder allocates for the pixels; the conversion to BGR uint8 adds at most
        ``width x height x (channels + 3)`` bytes (see ``ocrstack.pipeline.image_io``)."""
        return self.width * self.height * self.channels * self.sample_bytes


def _sample_layout(image: ImageFile.ImageFile) -> tuple[int, int]:
    """(channels, bytes per sample) the decoder will produce, from the parsed header only. Pillow's
    mode hides 16-bit RGB(A) PNGs (mode RGBA, raw mode RGBA;16B), so the raw mode and TIFF tags count."""
    channels = len(image.mode) if image.mode in ("RGB", "RGBA", "LA", "CMYK") else 1
    if image.mode in ("P", "PA"):
        channels = 4  # a palette is expanded to colours, with alpha when it has transparency
    rawmode = " ".join(str(tile[3]) for tile in image.tile)
    sample = 2 if ";16" in rawmode or image.mode.startswith("I;16") else 1
    if image.mode in ("I", "F") or ";32" in rawmode:
        sample = 4
    tags = getattr(image, "tag_v2", None)
    if tags is not None:  # TIFF: the tags say it outright, extra samples included
        bits = tags.get(258, (8,))
        bits = max(bits) if isinstance(bits, tuple) else bits
        sample = max(sample, -(-int(bits) // 8))
        channels = max(channels, int(tags.get(277, channels)))
    return channels, sample


def probe_image(data: bytes) -> ImageInfo:
    """Size and format from the header alone; no pixel data is decoded or allocated."""
    for format_name, reader in _HEADER_READERS.items():
        try:
            with reader(io.BytesIO(data)) as image:
                channels, sample = _sample_layout(image)
                return ImageInfo(image.width, image.height, format_name, channels, sample)
        except Image.DecompressionBombError as error:
            # Pillow's WebP and GIF readers still check their canvas before allocating it; anything
            # past that check is far beyond our own limits.
            raise InputError(
                413, "image_too_large", "image too large: header declares too many pixels"
            ) from error
        except Exception:
            # Hostile bytes can fail a parser in any way; each failure only means "not this format".
            continue
    raise InputError(
        400, "not_an_image", "not an image: expected PNG, JPEG, WebP, BMP or TIFF, or the header is corrupt"
    )


def check_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Refuse, from the byte count and the header, anything ``load_image`` should not decode."""
    if not data:
        raise InputError(400, "empty_image", "empty image: no bytes received")
    if len(data) > limits.max_bytes:
        raise _too_many_bytes(len(data), limits.max_bytes)
    info = probe_image(data)
    if info.format not in DECODABLE_FORMATS:
        raise InputError(
            415,
            "unsupported_format",
            f"unsupported image format {info.format}: send PNG, JPEG, WebP, BMP or TIFF",
        )
    check_dimensions(info.width, info.height, limits)
    if info.decoded_bytes > limits.max_decoded_bytes:
        raise InputError(
            413,
            "image_too_large",
            f"image too large: {info.width} x {info.height} with {info.channels} channels of "
            f"{8 * info.sample_bytes} bits decodes to {info.decoded_bytes} bytes, over the limit of "
            f"{limits.max_decoded_bytes}",
        )
    return info


def check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise InputError(
            413,
            "image_too_large",
            f"image too large: {width} x {height} exceeds the limits of {limits.max_side} pixels a side "
            f"and {limits.max_pixels} pixels in all",
        )
    if min(width, height) < limits.min_side:
        raise InputError(
            400,
            "image_too_small",
            f"image too small: {width} x {height}; each side must be at least {limits.min_side} pixels",
        )


def load_image(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Checked bytes -> BGR uint8, H x W x 3; every failure is an ``InputError``."""
    check_image(data, limits)
    return decode_checked(data)


def decode_checked(data: bytes) -> np.ndarray:
    """Bytes that passed :func:`check_image` -> BGR uint8; broken pixel data is an ``InputError``."""
    return decode_working_checked(data, None).pixels


def decode_working_checked(data: bytes, max_side: int | None) -> WorkingImage:
    """As :func:`decode_checked`, brought down to ``max_side`` pixels on the long side while decoding
    (see ``decode_working_image``); ``None``: as sent."""
    try:
        if max_side is None:
            pixels = decode_image(data)
            return WorkingImage(pixels, pixels.shape[1], pixels.shape[0])
        return decode_working_image(data, max_side)
    except ImageDecodeError as error:
        # A sound header over broken pixel data (a truncated upload) ends here.
        raise InputError(400, "corrupt_image", str(error)) from error


def media_type(content_type: str | None) -> str:
    """``'Image/PNG; charset=x'`` -> ``'image/png'``; missing -> ``''``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None, allowed: tuple[str, ...] = ALLOWED_CONTENT_TYPES) -> None:
    """415 unless the media type is allowed. A missing type passes: HTTP lets a recipient treat it as
    octet-stream, and the bytes are identified from their header anyway."""
    kind = media_type(content_type)
    if kind and kind not in allowed:
        raise InputError(
            415,
            "unsupported_media_type",
            f"unsupported media type {kind!r}: expected one of {', '.join(allowed)}",
        )


def decode_base64_image(text: str, limits: ImageLimits) -> bytes:
    """Plain base64 (standard or URL-safe alphabet, padding optional, line breaks allowed) or a
    ``data:image/...;base64,`` URL -> the encoded image bytes; the size is judged before decoding."""
    payload = _data_url_payload(text.strip()) if text.lstrip().startswith("data:") else text
    payload = "".join(payload.split())  # MIME-style line breaks
    if not payload:
        raise InputError(400, "empty_image", "empty image: no base64 data received")
    estimated = len(payload) * 3 // 4 - payload[-2:].count("=")
    if estimated > limits.max_bytes:
        raise _too_many_bytes(estimated, limits.max_bytes, "about ")
    data = _b64decode(payload)
    if len(data) > limits.max_bytes:
        raise _too_many_bytes(len(data), limits.max_bytes)
    return data


def _too_many_bytes(size: int, limit: int, qualifier: str = "") -> InputError:
    return InputError(
        413, "payload_too_large", f"image too large: {qualifier}{size} bytes exceeds the limit of {limit}"
    )


def _data_url_payload(url: str) -> str:
    header, comma, payload = url.partition(",")
    params = header[len("data:") :].split(";")
    if not comma or params[-1].strip().lower() != "base64":
        raise InputError(400, "invalid_base64", "invalid data url: expected data:image/...;base64,<data>")
    check_content_type(params[0] if len(params) > 1 else None)
    return payload


def _b64decode(payload: str) -> bytes:
    # One alphabet for both: URL-safe input is mapped onto the standard one, padding is restored.
    normalised = payload.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(400, "invalid_base64", "invalid base64 image data") from error
