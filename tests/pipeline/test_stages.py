"""Stage functions shared by the in-process pipeline and the Triton python models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ocrstack.config import Orientation, detector_config, recognizer_config
from ocrstack.pipeline.stages import (
    DetectionPlan,
    black_value,
    boxes_from_detection,
    cut_lines,
    in_crop_order,
    pad_to_size_bucket,
    prepare_detection,
    recognition_chunks,
    route,
    to_sent_pixels,
    working_side,
)


def test_plan_round_trips_through_an_array() -> None:
    for plan in (DetectionPlan(7, 100, 200, 736, 1472), DetectionPlan(7, 100, 200, 736, 1472, 300, 600)):
        assert DetectionPlan.from_array(plan.as_array()) == plan
        assert plan.as_array().dtype == np.int32
    assert DetectionPlan.from_array(np.array([7, 100, 200, 736, 1472])).image_height == 0


def test_working_side_is_a_multiple_of_the_detectors_input() -> None:
    cfg = detector_config()
    assert working_side(cfg) >= cfg.max_input_side
    assert working_side(cfg) % cfg.max_input_side == 0


def test_boxes_on_a_working_copy_are_answered_in_the_pixels_as_sent() -> None:
    cfg = detector_config()
    image = np.full((100, 400, 3), 255, np.uint8)
    _, plan = prepare_detection(image, cfg, sent_size=(300, 1200))
    assert (plan.image_height, plan.image_width) == (300, 1200)
    quads = np.array([[[10, 20], [110, 20], [110, 40], [10, 40]]], np.float32)
    np.testing.assert_allclose(to_sent_pixels(quads, plan, image.shape)[0, 2], [330, 120])
    _, as_sent = prepare_detection(image, cfg, sent_size=(100, 400))
    assert as_sent.image_height == 0 and to_sent_pixels(quads, as_sent, image.shape) is quads


def test_size_bucket_pads_with_black_bottom_right() -> None:
    cfg = dataclasses.replace(detector_config(), size_bucket=128)
    batch = np.zeros((1, 3, 736, 992), np.float32)
    padded = pad_to_size_bucket(batch, cfg)
    assert padded.shape == (1, 3, 768, 1024)
    np.testing.assert_array_equal(padded[:, :, :736, :992], batch)
    np.testing.assert_allclose(padded[0, :, 740, 1000], black_value(cfg.normalization).ravel())
    assert pad_to_size_bucket(batch, detector_config()) is batch  # bucket = multiple: nothing to pad


def test_bucket_padding_does_not_move_boxes() -> None:
    """A probability map computed on a padded input maps back to the same boxes."""
    cfg = dataclasses.replace(detector_config(), size_bucket=256)
    image = np.full((300, 500, 3), 255, np.uint8)
    batch, plan = prepare_detection(image, cfg)
    assert batch.shape[2] % 256 == 0 and batch.shape[3] % 256 == 0
    prob = np.zeros(batch.shape[2:], np.float32)
    scale_y, scale_x = plan.input_height / 300, plan.input_width / 500
    prob[int(100 * scale_y) : int(140 * scale_y), int(50 * scale_x) : int(400 * scale_x)] = 0.9
    prob[plan.input_height + 5 :, :] = 0.9  # whatever the padding produces is ignored
    quads, scores = boxes_from_detection(prob[None, None], plan, image.shape, cfg)
    assert len(quads) == 1 and scores[0] > 0.8
    assert quads[0][:, 0].min() < 55 and quads[0][:, 0].max() > 395


def test_cut_lines_orders_and_turns_vertical_crops() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    column = np.array([[300, 20], [340, 20], [340, 300], [300, 300]], np.float32)
    row = np.array([[10, 10], [200, 10], [200, 40], [10, 40]], np.float32)
    lines = cut_lines(image, np.stack([column, row]))
    assert lines.orientations == ["horizontal", "vertical"]
    assert lines.crops[1].shape[1] > lines.crops[1].shape[0]  # laid as a row
    assert cut_lines(image, np.zeros((0, 4, 2), np.float32)).crops == []


def test_route_falls_back_to_the_horizontal_model() -> None:
    orientations: list[Orientation] = ["horizontal", "vertical", "horizontal"]
    assert route(orientations, ["horizontal"]) == {"horizontal": [0, 1, 2]}
    assert route(orientations, ["horizontal", "vertical"]) == {"horizontal": [0, 2], "vertical": [1]}


def test_recognition_chunks_group_by_bucket_and_cap_the_batch() -> None:
    cfg = recognizer_config("text_recognition_ch")
    short = np.zeros((48, 100, 3), np.uint8)
    long = np.zeros((48, 600, 3), np.uint8)
    crops = [short, long, short, short, long]
    chunks = recognition_chunks(crops, cfg, max_batch=2)
    assert chunks == [(320, [0, 2]), (320, [3]), (640, [1, 4])]


def test_what_chunks_read_comes_back_in_the_crops_order() -> None:
    chunks = [(320, [0, 2]), (320, [3]), (640, [1, 4])]
    read = [["a", "c"], ["d"], ["b", "e"]]
    assert in_crop_order(chunks, read, 5) == ["a", "b", "c", "d", "e"]
    assert in_crop_order([], [], 0) == []
    with pytest.raises(ValueError, match="4 of 5"):
        in_crop_order([*chunks[:2], (640, [1])], [["a", "c"], ["d"], ["b"]], 5)
    with pytest.raises(ValueError):  # a chunk read short
        in_crop_order(chunks, [["a", "c"], ["d"], ["b"]], 5)


def test_recognition_chunks_take_another_padded_width() -> None:
    cfg = recognizer_config("text_recognition_ch")
    crops = [np.zeros((48, w, 3), np.uint8) for w in (100, 104, 100)]
    chunks = recognition_chunks(crops, cfg, max_batch=8, padded_width=lambda crop: crop.shape[1])
    assert chunks == [(100, [0, 2]), (104, [1])]


def test_width_budget_keeps_wide_chunks_small() -> None:
    cfg = recognizer_config("text_recognition_ch")
    narrow, wide = np.zeros((48, 100, 3), np.uint8), np.zeros((48, 900, 3), np.uint8)
    chunks = recognition_chunks([narrow] * 9 + [wide] * 3, cfg, max_batch=8, max_total_width=8 * 320)
    assert [(w, len(c)) for w, c in chunks] == [(320, 8), (320, 1), (960, 2), (960, 1)]
