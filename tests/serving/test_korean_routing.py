"""Korean requests on a real server: ``lang=ko`` reads horizontal lines with the horizontal Korean model
and columns with the vertical one; other languages never reach them. The server is the project's own
repository with the shipped Korean checkpoints (``training/weights``); the routing, not the reading, is
under test here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from loadtest.server_metrics import batch_stats, scrape
from ocrstack.config import KOREAN_RECOGNIZERS
from ocrstack.serving.client import run_ocr
from ocrstack.serving.launcher.server import ServerOptions
from ocrstack.synth.fonts import find_face
from ocrstack.synth.render import LineSpec, render_page

KO_H, KO_V = (KOREAN_RECOGNIZERS[o].name for o in ("horizontal", "vertical"))


@pytest.fixture(scope="module")
def korean_server(triton: ServerOptions) -> ServerOptions:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{triton.grpc_port}")
    assert client.is_model_ready(KO_H) and client.is_model_ready(KO_V), "the shipped Korean models"
    return triton


@pytest.fixture(scope="module")
def poster() -> bytes:
    """A horizontal Korean line and a Korean column."""
    face = find_face("hangul")
    lines = [
        LineSpec("가나다 가나", face.path, height=40, position=(40, 60), font_index=face.index),
        LineSpec("다나가다", face.path, height=44, vertical=True, position=(520, 40), font_index=face.index),
    ]
    image, _ = render_page(lines, size=(640, 320))
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _inferences(options: ServerOptions, request) -> dict[str, float]:
    """Δnv_inference_count of each recognizer over ``request()``."""
    url = f"http://127.0.0.1:{options.metrics_port}/metrics"
    before = scrape(url)
    request()
    after = scrape(url)
    return {n: batch_stats(before, after, n).inferences for n in ("text_recognition_ch", KO_H, KO_V)}


def test_korean_lines_and_columns_go_to_their_models(korean_server: ServerOptions, poster: bytes) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{korean_server.grpc_port}")
    counts = _inferences(korean_server, lambda: run_ocr(client, grpcclient, poster, lang="ko"))
    assert counts == {"text_recognition_ch": 0.0, KO_H: 1.0, KO_V: 1.0}, counts


def test_other_languages_keep_to_their_recognizer(korean_server: ServerOptions, poster: bytes) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{korean_server.grpc_port}")
    counts = _inferences(korean_server, lambda: run_ocr(client, grpcclient, poster, lang="en"))
    assert counts == {"text_recognition_ch": 2.0, KO_H: 0.0, KO_V: 0.0}, counts
    result = run_ocr(client, grpcclient, poster, lang="en")
    assert np.isfinite(result.scores).all()
