"""Finding 1 of issue 20: the memory one image may cost is bounded by its decoded size, judged from the
header, and decoding makes no full-size float copy."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from gateway.inputs import ImageLimits, InputError, check_image, probe_image
from ocrstack.pipeline.image_io import STRIP_PIXELS, decode_image, to_bgr

SIDE = 6320  # the image: 40 megapixels minus a little, inside the pixel limit


def png_header(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    """A PNG whose header declares the given layout, over a few bytes of pixel data: enough for the
    header checks, which must refuse it without decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("bit_depth", "colour_type", "channels", "sample_bytes"),
    [(16, 6, 4, 2), (8, 6, 4, 1), (16, 2, 3, 2), (8, 2, 3, 1), (16, 0, 1, 2), (8, 0, 1, 1)],
)
def test_the_header_tells_the_decoded_size(
    bit_depth: int, colour_type: int, channels: int, sample_bytes: int
) -> None:
    info = probe_image(png_header(100, 50, bit_depth, colour_type))
    assert (info.channels, info.sample_bytes) == (channels, sample_bytes)
    assert info.decoded_bytes == 100 * 50 * channels * sample_bytes


def test_16_bit_rgba_within_the_pixel_limit_is_refused_by_decoded_size() -> None:
    limits = ImageLimits()
    assert limits.max_pixels >= SIDE * SIDE
    with pytest.raises(InputError) as refused:
        check_image(png_header(SIDE, SIDE, 16, 6), limits)
    assert refused.value.status == 413 and refused.value.kind == "image_too_large"
    assert "16 bits" in refused.value.message and "4 channels" in refused.value.message
    # The same canvas in 8-bit RGB, what the limits were made for, still passes.
    assert check_image(png_header(SIDE, SIDE, 8, 2), limits).decoded_bytes == SIDE * SIDE * 3


def test_the_route_answers_413(tmp_path) -> None:
    from tests.gateway.test_hardening import call, make_app

    app = make_app()
    bomb = png_header(SIDE, SIDE, 16, 6)
    response = call(app, "POST", "/ocr", content=bomb, headers={"content-type": "image/png"})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "image_too_large"


def reference_bgr(image: np.ndarray) -> np.ndarray:
    """The conversion as it was written before, with full-size float copies: the expected values."""
    if image.dtype == np.uint16:
        image = np.rint(image.astype(np.float32) / 257.0).astype(np.uint8)
    weight = image[..., 3].astype(np.float32)[..., None] / 255.0
    blended = image[..., :3].astype(np.float32) * weight + 255.0 * (1.0 - weight)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_conversion_matches_and_makes_no_full_size_float_copy(dtype: type) -> None:
    rng = np.random.default_rng(0)
    height, width = 4 * STRIP_PIXELS // 1500 + 17, 1500
    top = np.iinfo(dtype).max
    image = rng.integers(0, top, size=(height, width, 4), dtype=dtype, endpoint=True)
    tracemalloc.start()
    try:
        converted = to_bgr(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(converted, reference_bgr(image))
    output = height * width * 3
    as_uint8 = height * width * 4 if dtype == np.uint16 else 0
    strip_floats = STRIP_PIXELS * 4 * 8  # float32 temporaries of one strip: weight, 3 channels, a few more
    assert peak <= output + as_uint8 + strip_floats, (peak, output)
    # One full-size float32 copy of the colour channels alone would be this much more:
    assert height * width * 3 * 4 > strip_floats


def test_16_bit_png_decodes_as_before() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65535, size=(300, 200, 4), dtype=np.uint16, endpoint=True)
    png = cv2.imencode(".png", image)[1].tobytes()
    np.testing.assert_array_equal(decode_image(png), reference_bgr(image))
