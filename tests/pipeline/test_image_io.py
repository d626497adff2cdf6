import cv2
import numpy as np
import pytest

from ocrstack.pipeline.image_io import ImageDecodeError, decode_image, to_bgr


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
