"""The gateway end to end: real Triton, real Papago-compatible server, real gateway processes on loopback.

Pages are rendered with known text and colours; translations are predicted from the Papago-compatible
server's glossary.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from devtools.papago_server import fake_translation
from devtools.stack import local_papago_env
from ocrstack.synth.fonts import find_font
from ocrstack.synth.render import LineSpec, render_page

pytestmark = pytest.mark.slow

COLOR_TOLERANCE = 12  # per channel, as the colour extraction's own test
TEXT = (20, 40, 120)  # RGB
BACKGROUND = (245, 235, 200)
WORDS = ("Emergency exit", "Restroom", "Parking lot")


def rgb_hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def hex_rgb(value: str) -> np.ndarray:
    return np.array([int(value[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.fixture(scope="module")
def sign() -> bytes:
    """Three separate signs (far apart, so three paragraphs) in dark blue on cream."""
    font = find_font("latin")
    lines = [
        LineSpec(word, font, height=40, color=TEXT, position=(40, 40 + 130 * i))
        for i, word in enumerate(WORDS)
    ]
    image, _ = render_page(lines, size=(640, 420), background=BACKGROUND)
    return cv2.imencode(".png", image)[1].tobytes()


def post_file(url: str, path: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(url + path, files={"file": ("sign.png", data, "image/png")}, data=fields, timeout=120)


def check_sign_answer(body: dict) -> None:
    assert [line["text"] for line in body["lines"]] == list(WORDS)
    for line in body["lines"]:
        assert line["orientation"] == "horizontal" and 0.5 <= line["confidence"] <= 1
        assert np.abs(hex_rgb(line["colors"]["text"]) - TEXT).max() <= COLOR_TOLERANCE, line
        assert np.abs(hex_rgb(line["colors"]["background"]) - BACKGROUND).max() <= COLOR_TOLERANCE, line


def test_translate_image_reads_measures_and_translates(gateway_url: str, sign: bytes) -> None:
    response = post_file(gateway_url, "/translate_image", sign, source_lang="en", target_lang="ko")
    assert response.status_code == 200, response.text
    body = response.json()
    check_sign_answer(body)
    assert [line["translation"] for line in body["lines"]] == [fake_translation(w, "en", "ko") for w in WORDS]
    assert [p["lines"] for p in body["paragraphs"]] == [[0], [1], [2]]
    assert body["paragraphs"][0]["translation"] == "비상구"
    assert body["translator"] == "papago" and body["translation_errors"] == 0
    assert {"decode", "ocr", "colors", "translation", "total"} <= set(body["timings_ms"])
    assert body["rendered_image"] is None


@pytest.mark.parametrize("shape", ["json-base64", "data-url", "url", "raw"])
def test_every_request_shape_reads_the_same(
    gateway_url: str, sign: bytes, image_server: tuple[str, object], shape: str
) -> None:
    encoded = base64.b64encode(sign).decode()
    if shape == "json-base64":
        response = httpx.post(gateway_url + "/ocr", json={"image": encoded, "source_lang": "en"}, timeout=120)
    elif shape == "data-url":
        payload = {"image": "data:image/png;base64," + encoded, "source_lang": "en"}
        response = httpx.post(gateway_url + "/ocr", json=payload, timeout=120)
    elif shape == "url":
        base, folder = image_server
        (folder / "sign.png").write_bytes(sign)  # type: ignore[operator]
        payload = {"url": f"{base}/sign.png", "source_lang": "en"}
        response = httpx.post(gateway_url + "/ocr", json=payload, timeout=120)
    else:
        headers = {"content-type": "image/png"}
        response = httpx.post(gateway_url + "/ocr?source_lang=en", content=sign, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    check_sign_answer(response.json())


def test_render_returns_the_translated_image(gateway_url: str, sign: bytes) -> None:
    response = post_file(
        gateway_url, "/translate_image", sign, source_lang="en", target_lang="ko", render="true"
    )
    assert response.status_code == 200, response.text
    png = base64.b64decode(response.json()["rendered_image"])
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imdecode(np.frombuffer(sign, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == original.shape
    assert not np.array_equal(image, original)  # the English words were drawn over in Korean


def test_ocr_takes_a_list_of_images_up_to_the_limit(gateway_url: str, sign: bytes, test_limits) -> None:
    item = {"image": base64.b64encode(sign).decode()}
    response = httpx.post(
        gateway_url + "/ocr", json={"images": [item, item], "source_lang": "en"}, timeout=120
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 2 and all([ln["text"] for ln in r["lines"]] == list(WORDS) for r in results)
    limit = int(test_limits["OCRSTACK_MAX_IMAGES_PER_CALL"])
    too_many = httpx.post(gateway_url + "/ocr", json={"images": [item] * (limit + 1)}, timeout=120)
    assert too_many.status_code == 413 and "at most" in too_many.json()["detail"]


def test_detection_then_recognition_reads_the_lines(gateway_url: str, sign: bytes) -> None:
    detected = post_file(gateway_url, "/detection", sign)
    assert detected.status_code == 200, detected.text
    boxes = [np.array(b["box"]) for b in detected.json()["boxes"]]
    assert len(boxes) == len(WORDS)
    image = cv2.imdecode(np.frombuffer(sign, np.uint8), cv2.IMREAD_COLOR)
    crops = []
    for box in boxes:
        (x0, y0), (x1, y1) = box.min(0).astype(int), box.max(0).astype(int)
        crops.append(base64.b64encode(cv2.imencode(".png", image[y0:y1, x0:x1])[1].tobytes()).decode())
    read = httpx.post(gateway_url + "/recognition", json={"crops": crops, "source_lang": "en"}, timeout=120)
    assert read.status_code == 200, read.text
    assert [r["text"] for r in read.json()["results"]] == list(WORDS)


def test_recognition_finds_the_rows_of_a_crop_that_is_not_one_line(gateway_url: str, sign: bytes) -> None:
    """The whole sign as one crop: read whole it is one squashed row; with the default layout the
    detector finds its three lines and they come back in reading order, joined by spaces."""
    crop = [base64.b64encode(sign).decode()]
    rows = httpx.post(gateway_url + "/recognition", json={"crops": crop, "source_lang": "en"}, timeout=120)
    assert rows.status_code == 200, rows.text
    (reading,) = rows.json()["results"]
    assert reading["text"] == " ".join(WORDS) and reading["orientation"] == "horizontal"
    whole = httpx.post(
        gateway_url + "/recognition",
        json={"crops": crop, "source_lang": "en", "layout": "line"},
        timeout=120,
    )
    assert whole.status_code == 200, whole.text
    assert whole.json()["results"][0]["text"] != reading["text"]


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge canvas, with a tiny compressed body: decoding it would need
    width * height bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (width // 8 + 1) * 64, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def tiny_png() -> bytes:
    return cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()


# case -> (httpx.post's keyword arguments, the status expected)
BAD_INPUTS: dict[str, tuple[dict[str, Any], int]] = {
    "corrupt": ({"files": {"file": ("x.png", b"\x89PNG not really", "image/png")}}, 400),
    "empty": ({"files": {"file": ("x.png", b"", "image/png")}}, 400),
    "1x1": ({"files": {"file": ("x.png", tiny_png(), "image/png")}}, 400),
    "bomb": ({"files": {"file": ("x.png", png_header_bomb(40_000, 40_000), "image/png")}}, 413),
    "oversized body": ({"content": b"\0" * 3_100_000, "headers": {"content-type": "image/png"}}, 413),
    "wrong content type": ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415),
    "not json": ({"content": b"{", "headers": {"content-type": "application/json"}}, 400),
    "no image field": ({"json": {"source_lang": "en"}}, 422),
    "bad language": ({"json": {"image": "aGVsbG8=", "source_lang": "xx"}}, 422),
    "metadata url": ({"json": {"url": "http://169.254.169.254/latest/meta-data/"}}, 400),
    "file url": ({"json": {"url": "file:///etc/passwd"}}, 400),
    "bad base64": ({"json": {"image": "***"}}, 400),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_its_status_and_the_next_request_succeeds(
    gateway_url: str, sign: bytes, case: str
) -> None:
    request, status = BAD_INPUTS[case]
    response = httpx.post(gateway_url + "/translate_image", timeout=60, **request)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    good = post_file(gateway_url, "/ocr", sign, source_lang="en")
    assert good.status_code == 200


def test_health_readiness_and_metrics(gateway_url: str, sign: bytes) -> None:
    assert httpx.get(gateway_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway_url + "/readyz", timeout=30)
    assert ready.status_code == 200 and all(ready.json()["models"].values())
    post_file(gateway_url, "/ocr", sign, source_lang="en")
    text = httpx.get(gateway_url + "/metrics").text
    assert 'ocrstack_gateway_requests_total{route="/ocr",status="200"}' in text
    assert 'ocrstack_gateway_stage_seconds_count{stage="ocr"}' in text
    assert "ocrstack_gateway_lines_per_image_count" in text


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(("--error-rate", "1.0"), "papago"), (("--quota-chars", "5", "--retry-after-s", "100"), "Quota")],
    ids=["server errors", "quota exhausted"],
)
def test_translator_failures_keep_the_ocr(
    triton, start_papago, start_gateway, sign: bytes, flags: tuple[str, ...], expected: str
) -> None:
    papago = start_papago(*flags)
    env = {
        "OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}",
        **local_papago_env(int(papago.rsplit(":", 1)[1])),
    }
    env["OCRSTACK_PAPAGO_TIMEOUT_S"] = "2"
    gateway = start_gateway(env)
    response = post_file(gateway, "/translate_image", sign, source_lang="en", target_lang="ko")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [line["text"] for line in body["lines"]] == list(WORDS)
    assert all(
        line["translation"] is None and expected in line["translation_error"] for line in body["lines"]
    )
    assert (
        body["translation_errors"]
        == len(WORDS)
        + len(body["paragraphs"])
        - sum(1 for p in body["paragraphs"] if len(p["lines"]) == 1) * 0
    )  # every text failed
    assert (
        'ocrstack_gateway_translation_errors_total{translator="papago"}'
        in httpx.get(gateway + "/metrics").text
    )


def test_api_keys_when_configured(triton, start_gateway, sign: bytes) -> None:
    env = {"OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}", "OCRSTACK_API_KEYS": '["key-one"]'}
    gateway = start_gateway(env)
    assert post_file(gateway, "/ocr", sign, source_lang="en").status_code == 401
    good = httpx.post(
        gateway + "/ocr?source_lang=en",
        content=sign,
        headers={"content-type": "image/png", "x-api-key": "key-one"},
        timeout=120,
    )
    assert good.status_code == 200, good.text
    assert httpx.get(gateway + "/healthz").status_code == 200  # health needs no key


def wait_ready(gateway: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(gateway + "/readyz", timeout=30).status_code == 200:
            return True
        time.sleep(0.25)
    return False


def test_triton_down_gives_503_and_the_gateway_recovers(
    exported_repository, launch_triton, start_gateway, sign: bytes, tmp_path
) -> None:
    from ocrstack.serving.launcher.server import free_ports

    http, grpc, metrics = free_ports(3)
    gateway = start_gateway(
        {"OCRSTACK_TRITON_URL": f"127.0.0.1:{grpc}", "OCRSTACK_TRITON_RETRY_AFTER_S": "7"}
    )
    down = post_file(gateway, "/ocr", sign, source_lang="en")
    assert down.status_code == 503 and down.headers["retry-after"] == "7", down.text
    assert httpx.get(gateway + "/readyz", timeout=30).status_code == 503
    from ocrstack.serving.launcher.server import ServerOptions, TritonServer

    options = ServerOptions(exported_repository, http, grpc, metrics, workdir=tmp_path, ready_timeout_s=300)
    with TritonServer(options, log_file=tmp_path / "triton.log") as server:
        server.wait_until_ready()
        # The gateway reconnects within about a second (its gRPC backoff is capped there).
        assert wait_ready(gateway, timeout_s=15)
        up = post_file(gateway, "/ocr", sign, source_lang="en")
        assert up.status_code == 200 and [ln["text"] for ln in up.json()["lines"]] == list(WORDS)
    stopped = post_file(gateway, "/ocr", sign, source_lang="en")
    assert stopped.status_code == 503
