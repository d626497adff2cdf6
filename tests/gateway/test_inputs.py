import base64
import io
import resource
import struct
import time
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from gateway.inputs import (
    ImageInfo,
    ImageLimits,
    InputError,
    check_content_type,
    check_image,
    decode_base64_image,
    load_image,
    probe_image,
)

LIMITS = ImageLimits()
BOMB_SIDE = 30_000


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def page(height: int = 24, width: int = 40) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A complete, valid 30000 x 30000 one-bit PNG of zeros: about 110 KB on the wire (deflate's
    ~1000:1 ceiling over 112 MB of rows), 900 MB once decoded to 8-bit grey, 2.7 GB as BGR."""
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 1, 0, 0, 0, 0)
    rows = bytes(1 + BOMB_SIDE // 8) * 1000  # filter byte + packed bits, a thousand rows at a time
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(rows) for _ in range(BOMB_SIDE // 1000)) + compressor.flush()
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def assert_input_error(error: pytest.ExceptionInfo[InputError], status: int, *words: str) -> None:
    assert error.value.status == status
    for word in words:
        assert word in error.value.message


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@pytest.mark.parametrize("call", [check_image, load_image])
def test_decompression_bomb_refused_from_header(bomb_png: bytes, call) -> None:
    assert len(bomb_png) < 200_000
    rss_before, start = peak_rss_mib(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own bomb warning must not be what decides
        with pytest.raises(InputError) as error:
            call(bomb_png, LIMITS)
    assert time.perf_counter() - start < 1.0
    assert peak_rss_mib() - rss_before < 100
    assert_input_error(error, 413, f"{BOMB_SIDE} x {BOMB_SIDE}", "12000", "40000000")
    assert error.value.kind == "image_too_large"


def webp_declaring(side: int) -> bytes:
    """A small lossy WebP whose frame header is rewritten to claim ``side`` x ``side``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, "WEBP", lossless=False)
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"  # simple lossy layout
    struct.pack_into("<HH", data, 26, side, side)
    return bytes(data)


@pytest.mark.parametrize(
    ("side", "words"),
    [
        (12_000, "12000 x 12000"),  # judged by our limits, with the dimensions named
        (16_383, "too many pixels"),  # past Pillow's own canvas check, which libwebp needs before it
    ],
)
def test_webp_bomb_header_is_413(side: int, words: str) -> None:
    rss_before = peak_rss_mib()
    with pytest.raises(InputError) as error:
        load_image(webp_declaring(side), LIMITS)
    assert_input_error(error, 413, words)
    assert peak_rss_mib() - rss_before < 100


def test_probe_reads_the_bomb_header_without_decoding(bomb_png: bytes) -> None:
    assert probe_image(bomb_png) == ImageInfo(BOMB_SIDE, BOMB_SIDE, "PNG")


@pytest.mark.parametrize(
    ("width", "height", "limits"),
    [
        (64, 10, ImageLimits(max_side=63)),  # long side
        (50, 50, ImageLimits(max_pixels=2499)),  # area, each side within bounds
    ],
)
def test_dimension_limits(width: int, height: int, limits: ImageLimits) -> None:
    with pytest.raises(InputError) as error:
        check_image(encode(page(height, width)), limits)
    assert_input_error(error, 413, f"{width} x {height}")


def test_image_at_the_limits_passes() -> None:
    info = check_image(encode(page(8, 50)), ImageLimits(max_side=50, max_pixels=400, min_side=8))
    assert info == ImageInfo(50, 8, "PNG")


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 100), (100, 7)])
def test_too_small_is_400(width: int, height: int) -> None:
    with pytest.raises(InputError) as error:
        load_image(encode(page(height, width)), LIMITS)
    assert_input_error(error, 400, "too small", f"{width} x {height}", "at least 8")


def test_empty_body_is_400() -> None:
    with pytest.raises(InputError) as error:
        load_image(b"", LIMITS)
    assert_input_error(error, 400, "empty image")


def test_too_many_bytes_is_413_before_looking_at_them() -> None:
    with pytest.raises(InputError) as error:
        check_image(b"\0" * 101, ImageLimits(max_bytes=100))
    assert_input_error(error, 413, "101 bytes", "100")


@pytest.mark.parametrize(
    "data",
    [
        b"garbage, not an image at all",
        np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        b"\x89PNG\r\n\x1a\n" + b"\0" * 20,  # PNG signature over a broken header
        b"<html><body>hello</body></html>",
    ],
)
def test_not_an_image_is_400(data: bytes) -> None:
    with pytest.raises(InputError) as error:
        load_image(data, LIMITS)
    assert_input_error(error, 400, "not an image")


def test_truncated_pixel_data_is_400() -> None:
    data = encode(page(64, 64))
    truncated = data[: len(data) // 2]
    assert check_image(truncated, LIMITS).width == 64  # the header alone is sound
    with pytest.raises(InputError) as error:
        load_image(truncated, LIMITS)
    assert_input_error(error, 400)
    assert error.value.kind == "corrupt_image"


def test_gif_is_identified_but_415() -> None:
    buffer = io.BytesIO()
    Image.new("P", (32, 16)).save(buffer, "GIF")
    assert probe_image(buffer.getvalue()) == ImageInfo(32, 16, "GIF")
    with pytest.raises(InputError) as error:
        load_image(buffer.getvalue(), LIMITS)
    assert_input_error(error, 415, "GIF")


def test_format_outside_the_list_is_400() -> None:
    # OpenCV could decode PPM, but only the listed formats' headers are trusted for the limits.
    with pytest.raises(InputError) as error:
        load_image(encode(page(), ".ppm"), LIMITS)
    assert_input_error(error, 400, "not an image")


@pytest.mark.parametrize(
    ("ext", "format_name"),
    [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".bmp", "BMP"), (".tiff", "TIFF")],
)
def test_each_format_loads_as_bgr(ext: str, format_name: str) -> None:
    data = encode(page(20, 30), ext)
    assert probe_image(data) == ImageInfo(30, 20, format_name)
    image = load_image(data, LIMITS)
    assert image.shape == (20, 30, 3)
    assert image.dtype == np.uint8


@pytest.mark.parametrize(
    "image",
    [
        np.full((12, 16, 4), 200, dtype=np.uint8),  # BGRA
        np.arange(12 * 16, dtype=np.uint8).reshape(12, 16),  # grey
        np.full((12, 16, 3), 65535, dtype=np.uint16),  # 16-bit colour
        np.full((12, 16), 1000, dtype=np.uint16),  # 16-bit grey
    ],
    ids=["rgba", "grey", "16-bit", "16-bit-grey"],
)
def test_png_layouts_load_as_three_channel_uint8(image: np.ndarray) -> None:
    loaded = load_image(encode(image), LIMITS)
    assert loaded.shape == (12, 16, 3)
    assert loaded.dtype == np.uint8


def test_png_pixels_survive() -> None:
    image = page()
    np.testing.assert_array_equal(load_image(encode(image), LIMITS), image)


def test_limits_must_be_coherent() -> None:
    with pytest.raises(ValueError):
        ImageLimits(min_side=100, max_side=50)
    with pytest.raises(ValueError):
        ImageLimits(max_bytes=0)


# base64 and data URLs


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    return encode(page())


def test_plain_base64(png_bytes: bytes) -> None:
    assert decode_base64_image(base64.b64encode(png_bytes).decode(), LIMITS) == png_bytes


def test_data_url(png_bytes: bytes) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes).decode()
    assert decode_base64_image(url, LIMITS) == png_bytes


def test_data_url_with_parameters_and_no_type(png_bytes: bytes) -> None:
    encoded = base64.b64encode(png_bytes).decode()
    assert decode_base64_image("data:image/png;name=page.png;base64," + encoded, LIMITS) == png_bytes
    assert decode_base64_image("data:;base64," + encoded, LIMITS) == png_bytes


def test_base64_with_line_breaks_url_safe_alphabet_and_no_padding(png_bytes: bytes) -> None:
    wrapped = base64.encodebytes(png_bytes).decode()  # MIME: a line break every 76 characters
    assert "\n" in wrapped
    assert decode_base64_image(wrapped, LIMITS) == png_bytes
    url_safe = base64.urlsafe_b64encode(png_bytes).decode().rstrip("=")
    assert decode_base64_image(url_safe, LIMITS) == png_bytes


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        "QUJD*RUY=",
        "QUJDRA=A",  # padding in the middle
        "QUJDR",  # a length no padding can fix
        "data:image/png,plain-percent-encoded",  # data URL without base64
        "data:image/png;base64",  # no comma, no data
    ],
)
def test_invalid_base64_is_400(text: str) -> None:
    with pytest.raises(InputError) as error:
        decode_base64_image(text, LIMITS)
    assert_input_error(error, 400)


@pytest.mark.parametrize("text", ["", "   \n ", "data:image/png;base64,"])
def test_empty_base64_is_400(text: str) -> None:
    with pytest.raises(InputError) as error:
        decode_base64_image(text, LIMITS)
    assert_input_error(error, 400, "empty image")


def test_data_url_of_another_type_is_415(png_bytes: bytes) -> None:
    url = "data:text/html;base64," + base64.b64encode(png_bytes).decode()
    with pytest.raises(InputError) as error:
        decode_base64_image(url, LIMITS)
    assert_input_error(error, 415, "text/html")


def test_base64_size_is_judged_before_decoding() -> None:
    # Invalid characters past the size limit: only a size check that runs first can answer 413.
    text = "A" * 1000 + "*"
    with pytest.raises(InputError) as error:
        decode_base64_image(text, ImageLimits(max_bytes=100))
    assert_input_error(error, 413, "about")


def test_base64_exactly_at_the_limit_passes() -> None:
    data = bytes(range(100))  # 100 bytes -> 136 characters with two padding characters
    assert decode_base64_image(base64.b64encode(data).decode(), ImageLimits(max_bytes=100)) == data
    with pytest.raises(InputError) as error:
        decode_base64_image(base64.b64encode(data + b"x").decode(), ImageLimits(max_bytes=100))
    assert_input_error(error, 413)


# Content types


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "image/png",
        "IMAGE/PNG",
        "image/jpeg; charset=binary",
        " image/webp ;q=1",
        "image/jpg",
        "application/octet-stream",
    ],
)
def test_allowed_content_types(content_type: str | None) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "application/json", "multipart/form-data; boundary=x", "image/svg+xml", "image/gif"],
)
def test_refused_content_types_are_415(content_type: str) -> None:
    with pytest.raises(InputError) as error:
        check_content_type(content_type)
    assert_input_error(error, 415, content_type.split(";")[0])


def test_content_type_allow_list_is_a_parameter() -> None:
    check_content_type("image/gif", allowed=("image/gif",))
    with pytest.raises(InputError):
        check_content_type("image/png", allowed=("image/gif",))
