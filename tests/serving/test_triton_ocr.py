"""The served pipeline against the in-process reference, its edge cases and its batching, on a real server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from convert import parity_inputs
from convert.repository import model_path
from loadtest.server_metrics import batch_stats, scrape
from ocrstack.config import detector_config, recognizer_config
from ocrstack.pipeline.image_io import shrink_to
from ocrstack.pipeline.pipeline import OcrPipeline, TextLine
from ocrstack.pipeline.stages import working_side
from ocrstack.serving.client import OcrResult, ocr_inputs, result_from, run_ocr
from ocrstack.serving.launcher.server import ServerOptions
from ocrstack.synth.fonts import find_face
from ocrstack.synth.render import render_text_line

REC = "text_recognition_ch"


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def http_client(options: ServerOptions) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(f"127.0.0.1:{options.http_port}")


def grpc_client(options: ServerOptions) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{options.grpc_port}")


@pytest.fixture(scope="module")
def reference(exported_repository: Path) -> OcrPipeline:
    second = recognizer_config(REC).second_reader
    assert second is not None
    return OcrPipeline.from_onnx(
        model_path(exported_repository, "text_detection"),
        {"horizontal": model_path(exported_repository, REC)},
        detector_config(),
        {"horizontal": recognizer_config(REC)},
        second_reader=(model_path(exported_repository, second), recognizer_config(second)),
    )


def images() -> list[tuple[str, np.ndarray]]:
    return [("rendered_page", parity_inputs.rendered_page()), *parity_inputs.real_images()]


def assert_same_lines(served: OcrResult, expected: list[TextLine], name: str) -> None:
    assert served.texts == [line.text for line in expected], name
    if expected:
        boxes = np.stack([line.box for line in expected])
        assert np.abs(served.boxes - boxes).max() <= 1.0, name
        np.testing.assert_allclose(served.scores, [line.score for line in expected], atol=1e-3)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_served_ocr_equals_the_reference_pipeline(triton: ServerOptions, reference, protocol: str) -> None:
    client, module = (
        (http_client(triton), httpclient) if protocol == "http" else (grpc_client(triton), grpcclient)
    )
    cases = images()
    for name, image in cases:
        assert_same_lines(run_ocr(client, module, png(image)), reference(image), name)
    assert len(cases) >= 1


def test_sequential_mode_reads_the_same(triton: ServerOptions) -> None:
    client = grpc_client(triton)
    image = png(parity_inputs.rendered_page())
    batched = run_ocr(client, grpcclient, image, model="ocr")
    sequential = run_ocr(client, grpcclient, image, model="ocr_sequential")
    assert sequential.texts == batched.texts and len(batched.texts) >= 6
    np.testing.assert_allclose(sequential.boxes, batched.boxes)


def test_an_image_above_the_working_size_is_read_at_it_and_answered_in_its_own_pixels(
    triton: ServerOptions,
) -> None:
    page = parity_inputs.rendered_page()
    side = working_side(detector_config())
    factor = -(-side * 5 // 4 // max(page.shape[:2]))
    big = cv2.resize(page, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    working = shrink_to(big, side)
    client = grpc_client(triton)
    as_sent, as_read = run_ocr(client, grpcclient, png(big)), run_ocr(client, grpcclient, png(working))
    assert as_sent.texts == as_read.texts and len(as_read.texts) >= 6
    scale = np.array([big.shape[1] / working.shape[1], big.shape[0] / working.shape[0]])
    np.testing.assert_allclose(as_sent.boxes, as_read.boxes * scale, atol=0.01)


def test_blank_image_has_no_lines(triton: ServerOptions) -> None:
    result = run_ocr(grpc_client(triton), grpcclient, png(np.full((480, 640, 3), 255, np.uint8)))
    assert result.texts == [] and result.boxes.shape == (0, 4, 2) and result.scores.shape == (0,)


def many_lines_page(rows: int = 50, columns: int = 3) -> tuple[np.ndarray, list[str]]:
    face = find_face("latin")
    texts, page = [], np.full((rows * 40 + 40, columns * 400 + 40, 3), 250, np.uint8)
    for column in range(columns):
        for row in range(rows):
            text = f"ITEM-{column * rows + row + 1:03d}"
            crop = render_text_line(text, face.path, height=28, fg=(10, 10, 10), bg=(250, 250, 250))
            y, x = 20 + row * 40, 20 + column * 400
            page[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
            texts.append(text)
    return page, texts


def test_page_with_150_lines_returns_them_all(triton: ServerOptions) -> None:
    """More lines than the recognizer's max_batch_size: chunks must cover every one. Spaces are left out
    of the comparison: the word-space rule splits the odd code ("ITE M-073"), which is not what this
    test is about."""
    page, expected = many_lines_page()
    result = run_ocr(grpc_client(triton), grpcclient, png(page))
    assert len(result.texts) == 150
    assert sorted(text.replace(" ", "") for text in result.texts) == sorted(expected)


def _infer_raw(options: ServerOptions, data: np.ndarray) -> OcrResult | str:
    client = grpc_client(options)
    image = grpcclient.InferInput("image", [data.size], "UINT8")
    image.set_data_from_numpy(data)
    try:
        return result_from(client.infer("ocr", [image]))
    except InferenceServerException as error:
        return str(error)


def test_bad_requests_fail_alone_while_good_ones_succeed(triton: ServerOptions) -> None:
    good = np.frombuffer(png(parity_inputs.rendered_page()), np.uint8)
    bad = {
        "corrupt": np.frombuffer(b"\x89PNG this is not an image" * 20, np.uint8),
        "empty": np.zeros(0, np.uint8),
        "one_pixel": np.frombuffer(png(np.zeros((1, 1, 3), np.uint8)), np.uint8),
    }
    jobs = [("good", good)] * 4 + list(bad.items()) + [("good", good)] * 4
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda job: (job[0], _infer_raw(triton, job[1])), jobs))
    for name, result in results:
        if name == "good":
            assert isinstance(result, OcrResult) and len(result.texts) >= 6, result
        else:
            assert isinstance(result, str) and result, (name, result)
    messages = {name: result for name, result in results if isinstance(result, str)}  # the bad ones
    assert "at least" in messages["one_pixel"]
    # ... and the server keeps serving.
    assert len(run_ocr(grpc_client(triton), grpcclient, good.tobytes()).texts) >= 6


def test_unknown_language_is_a_request_error(triton: ServerOptions) -> None:
    image = png(parity_inputs.rendered_page())
    with pytest.raises(InferenceServerException, match="unsupported language"):
        grpc_client(triton).infer("ocr", ocr_inputs(grpcclient, image, lang="xx"))
    assert run_ocr(grpc_client(triton), grpcclient, image, lang="en").texts


@pytest.mark.parametrize(("model", "recognizer"), [("ocr", REC), ("ocr_sequential", f"{REC}_sequential")])
def test_recognizer_batches_only_in_batched_mode(triton: ServerOptions, model: str, recognizer: str) -> None:
    """Average executed batch (Δnv_inference_count / Δnv_inference_exec_count) at concurrency 8: above 1
    in batched mode, whose requests carry a page's crops in chunks; exactly 1 in sequential mode, whose
    one-crop requests go to a twin with no dynamic batcher to merge those of different pages."""
    metrics_url = f"http://127.0.0.1:{triton.metrics_port}/metrics"
    pages = [png(image) for _, image in images()]
    jobs = (pages * 8)[: max(16, len(pages))]
    before = scrape(metrics_url)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda data: run_ocr(grpc_client(triton), grpcclient, data, model=model), jobs))
    stats = batch_stats(before, scrape(metrics_url), recognizer)
    assert stats.executions > 0
    if model == "ocr":
        assert stats.average_batch > 1.0, stats
    else:
        assert stats.average_batch == 1.0, stats
