"""Finding 1 of issue 20: the memory one image may cost is bounded by its decoded size, judged from the
header, and decoding makes no full-size float copy."""

from __future__ import annotations

import struct
import subprocess
import sys
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from gateway.inputs import ImageLimits, InputError, check_image, probe_image
from ocrstack.config import detector_config
from ocrstack.pipeline.image_io import STRIP_PIXELS, decode_image, to_bgr
from ocrstack.pipeline.stages import working_side

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


PEAK_SCRIPT = """
import sys
from ocrstack.pipeline.image_io import decode_working_image
def status(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) * 1024
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from the current RSS
before = status("VmRSS:")
image = decode_working_image(data, int(sys.argv[2]))
print(image.pixels.shape[1], image.pixels.shape[0], image.width, image.height, status("VmHWM:") - before)
"""
SLACK = 24 << 20  # the decoder's own buffers, allocator rounding


def decode_peak(tmp_path, data: bytes, max_side: int) -> tuple[tuple[int, int, int, int], int]:
    """(working w, h, sent w, h) and the growth of the peak RSS of a fresh process decoding ``data``."""
    path = tmp_path / "image"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), str(max_side)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return (int(out[0]), int(out[1]), int(out[2]), int(out[3])), int(out[4])


@pytest.mark.parametrize("side", [SIDE])
def test_memory_of_one_image_at_the_limits(tmp_path, side: int) -> None:
    """The largest image the limits let through (40 megapixels of 8-bit RGBA: the decoded-size limit)
    costs at most its decoded size, one BGR copy and the working image, once, and leaves the last."""
    rgba = np.zeros((side, side, 4), np.uint8)
    cv2.putText(rgba, "EXIT", (200, 3000), cv2.FONT_HERSHEY_SIMPLEX, 60, (0, 0, 0, 255), 120)
    png = cv2.imencode(".png", rgba, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
    del rgba
    max_side = working_side(detector_config())
    sizes, peak = decode_peak(tmp_path, png, max_side)
    assert sizes == (max_side, max_side, side, side)
    pixels = side * side
    assert ImageLimits().max_decoded_bytes >= pixels * 4  # this image is inside the limits
    assert peak <= pixels * 4 + pixels * 3 + max_side * max_side * 3 + SLACK, peak / 2**20


def test_a_large_jpeg_is_decoded_reduced(tmp_path) -> None:
    """A JPEG at least twice the working size never exists at full size: libjpeg decodes it at 1/2.
    (OpenCV holds a JPEG's pixels twice while decoding it: hence the 2.)"""
    width, height = 12_000, 3_333  # the longest side the limits allow, 40 megapixels
    image = np.full((height, width, 3), 235, np.uint8)
    cv2.putText(image, "EMERGENCY EXIT", (300, 2400), cv2.FONT_HERSHEY_SIMPLEX, 40, (20, 20, 90), 90)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    del image
    max_side = working_side(detector_config())
    sizes, peak = decode_peak(tmp_path, jpeg, max_side)
    assert sizes[2:] == (width, height) and max(sizes[:2]) == max_side
    reduced = 2 * (width // 2) * (height // 2) * 3 + max_side * (max_side * height // width) * 3
    assert peak <= reduced + SLACK, peak / 2**20
    assert reduced + SLACK < 2 * width * height * 3  # what a full decode costs
