import cv2
import numpy as np
import pytest

from ocrstack.pipeline.image_io import (
    ImageDecodeError,
    _jpeg_reduction,
    decode_image,
    decode_working_image,
    to_bgr,
)


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def test_colour_png_round_trips_exactly():
    image = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    decoded = decode_image(encode(image))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, image)


def test_grey_image_becomes_three_equal_channels():
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    decoded = decode_image(encode(grey))
    assert decoded.shape == (6, 10, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[..., channel], grey)


def test_alpha_is_composited_on_white():
    bgra = np.zeros((4, 4, 4), dtype=np.uint8)  # black everywhere
    bgra[:2, :, 3] = 0  # top half fully transparent
    bgra[2:, :2, 3] = 255  # bottom-left opaque
    bgra[2:, 2:, 3] = 128  # bottom-right half transparent
    decoded = decode_image(encode(bgra))
    assert decoded.shape == (4, 4, 3)
    assert (decoded[:2] == 255).all()
    assert (decoded[2:, :2] == 0).all()
    assert np.abs(decoded[2:, 2:].astype(int) - 127).max() <= 1


def test_alpha_keeps_opaque_colour():
    bgra = np.zeros((2, 2, 4), dtype=np.uint8)
    bgra[..., :3] = (10, 20, 30)
    bgra[..., 3] = 255
    np.testing.assert_array_equal(decode_image(encode(bgra))[0, 0], (10, 20, 30))


def test_sixteen_bit_is_scaled_to_eight():
    image = np.zeros((2, 3, 3), dtype=np.uint16)
    image[0] = 65535
    image[1] = 257 * 100
    decoded = decode_image(encode(image))
    assert decoded.dtype == np.uint8
    assert (decoded[0] == 255).all()
    assert (decoded[1] == 100).all()


def test_grey_with_alpha_array():
    grey_alpha = np.zeros((2, 2, 2), dtype=np.uint8)
    grey_alpha[0, :, 1] = 255  # opaque black
    out = to_bgr(grey_alpha)
    assert out.shape == (2, 2, 3)
    assert (out[0] == 0).all() and (out[1] == 255).all()


def test_float_image_is_scaled_from_unit_range():
    out = to_bgr(np.full((2, 2), 0.5, dtype=np.float32))
    assert out.dtype == np.uint8 and (out == 128).all()


def test_jpeg_decodes_to_bgr():
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[..., 2] = 255  # red in BGR
    decoded = decode_image(encode(image, ".jpg"))
    assert decoded[8, 8, 2] > 200 and decoded[8, 8, 0] < 50


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, bytes(range(256)) * 4],
    ids=["empty", "text", "truncated-png", "noise"],
)
def test_bad_bytes_raise_a_clear_value_error(data):
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data)
    assert isinstance(info.value, ValueError)
    assert "image" in str(info.value)


def test_truncated_real_png_raises():
    data = encode(np.full((64, 64, 3), 200, dtype=np.uint8))
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 3])


def test_working_image_as_sent_when_it_fits():
    image = np.random.default_rng(2).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    working = decode_working_image(encode(image), max_side=50)
    np.testing.assert_array_equal(working.pixels, image)
    assert (working.width, working.height, working.scale) == (50, 30, (1.0, 1.0))


@pytest.mark.parametrize(("ext", "side"), [(".png", 400), (".jpg", 400), (".jpg", 1700)])
def test_working_image_is_brought_down_to_the_long_side(ext, side):
    # 1700 px of JPEG is decoded by libjpeg at a quarter (425 px, still above 400), then resized.
    image = np.full((side * 3 // 4, side, 3), 200, np.uint8)
    cv2.rectangle(image, (side // 4, side // 4), (side // 2, side // 2), (20, 40, 60), -1)
    working = decode_working_image(encode(image, ext), max_side=200)
    assert working.pixels.shape == (150, 200, 3)
    assert (working.width, working.height) == (side, side * 3 // 4)
    assert working.scale == pytest.approx((side / 200, side / 200))
    expected = cv2.resize(image, (200, 150), interpolation=cv2.INTER_AREA)
    assert np.abs(working.pixels.astype(int) - expected).mean() < 2


@pytest.mark.parametrize(("side", "factor"), [(399, 1), (400, 2), (799, 2), (800, 4), (1600, 8), (9999, 8)])
def test_jpeg_reduction_never_goes_below_the_working_side(side, factor):
    data = encode(np.zeros((16, side, 3), np.uint8), ".jpg")
    assert _jpeg_reduction(data, 200) == factor
    assert _jpeg_reduction(encode(np.zeros((16, side, 3), np.uint8)), 200) == 1  # PNG: no reduction


def test_working_image_ignores_exif_orientation_as_decode_image_does():
    image = np.zeros((40, 900, 3), np.uint8)
    jpeg = bytearray(encode(image, ".jpg"))
    # An APP1 Exif segment saying "rotate 90" (orientation 6), right after SOI.
    tiff = b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + tiff
    jpeg[2:2] = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    assert decode_image(bytes(jpeg)).shape == (40, 900, 3)
    assert decode_working_image(bytes(jpeg), max_side=200).pixels.shape[:2] == (9, 200)


def test_working_image_of_a_corrupt_jpeg_is_a_decode_error():
    data = encode(np.full((100, 1000, 3), 128, np.uint8), ".jpg")
    with pytest.raises(ImageDecodeError):
        decode_working_image(data[:600] + b"\x00" * 10, max_side=200)
