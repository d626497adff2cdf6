from dataclasses import replace

import numpy as np
import pytest

from ocrstack.config import Normalization, detector_config, recognizer_config
from ocrstack.pipeline.preprocess import (
    choose_width_bucket,
    detection_input,
    detection_padding,
    detection_size,
    normalize,
    pad_for_detection,
    recognition_batch,
)

DET = detector_config()
REC = recognizer_config("text_recognition_ch")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((100, 200), (736, 1472)),  # short side brought up to 736
        ((200, 100), (1472, 736)),
        ((1000, 1500), (992, 1504)),  # already large enough: only rounded to multiples of 32
        ((736, 736), (736, 736)),
        ((1, 1), (736, 736)),
        ((500, 4000), (256, 1984)),  # the long side would be 5888: capped at max_side_len
    ],
)
def test_min_policy_sizes(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert detection_size(*size, DET) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((2000, 1000), (960, 480)),  # long side brought down to 960
        ((100, 50), (96, 64)),  # never up; only rounded
        ((1, 1), (32, 32)),  # at least one multiple
        ((10, 3000), (32, 960)),
    ],
)
def test_max_policy_sizes(size: tuple[int, int], expected: tuple[int, int]) -> None:
    cfg = replace(DET, limit_type="max", limit_side_len=960)
    assert detection_size(*size, cfg) == expected


def test_sizes_are_multiples_and_within_cap():
    rng = np.random.default_rng(1)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 6000, 2))
        for cfg in (DET, replace(DET, limit_type="max", limit_side_len=960)):
            new_h, new_w = detection_size(h, w, cfg)
            assert new_h % 32 == 0 and new_w % 32 == 0
            assert 32 <= new_h <= cfg.max_side_len and 32 <= new_w <= cfg.max_side_len


def test_normalize_maps_to_minus_one_one_and_chw():
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0] = 255
    out = normalize(image, DET.normalization)
    assert out.shape == (3, 2, 3) and out.dtype == np.float32
    assert np.allclose(out[:, 0], 1.0) and np.allclose(out[:, 1], -1.0)


def test_normalize_reorders_channels_for_rgb_models():
    norm = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order="RGB", scale=1.0)
    image = np.array([[[1, 2, 3]]], dtype=np.uint8)  # B=1, G=2, R=3
    assert normalize(image, norm)[:, 0, 0].tolist() == [3.0, 2.0, 1.0]


def test_normalize_uses_per_channel_mean_and_std():
    norm = Normalization(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 1.0))
    out = normalize(np.full((1, 1, 3), 51, dtype=np.uint8), norm)  # 51 / 255 = 0.2
    assert np.allclose(out[:, 0, 0], [(0.2 - 0.1) / 0.5, 0.0, (0.2 - 0.3) / 1.0], atol=1e-6)


def test_normalize_computes_in_float32_exactly_as_the_parity_checks_did():
    # The exported models' parity was checked on (value * scale - mean) / std in float32: the same bits.
    image = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    for norm in (
        Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        Normalization(mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1), channel_order="RGB"),
    ):
        pixels = image[..., ::-1] if norm.channel_order == "RGB" else image
        mean, std = np.array(norm.mean, np.float32), np.array(norm.std, np.float32)
        reference = ((pixels.astype(np.float32) * np.float32(norm.scale) - mean) / std).transpose(2, 0, 1)
        assert np.array_equal(normalize(image, norm), reference)


def test_detection_input_shape_and_ratio():
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    batch, (ratio_h, ratio_w) = detection_input(image, DET)
    assert batch.shape == (1, 3, 736, 1472) and batch.dtype == np.float32
    assert ratio_h == pytest.approx(7.36) and ratio_w == pytest.approx(7.36)
    assert np.allclose(batch, 1.0)


@pytest.mark.parametrize(
    ("size", "pad"),
    [((500, 500), 0), ((31, 100), 0), ((30, 100), 15), ((40, 800), 80), ((100, 900), 62)],
)
def test_detection_padding(size: tuple[int, int], pad: int) -> None:
    assert detection_padding(*size, DET) == pad


def test_pad_for_detection_adds_black_bands():
    image = np.full((20, 400, 3), 255, dtype=np.uint8)
    padded, top = pad_for_detection(image, DET)
    assert top == 40 and padded.shape == (100, 400, 3)
    assert (padded[:top] == 0).all() and (padded[-top:] == 0).all()
    np.testing.assert_array_equal(padded[top:-top], image)


@pytest.mark.parametrize(
    ("crop", "bucket"),
    [
        ((48, 320), 320),  # exactly fills the first bucket
        ((48, 321), 480),
        ((32, 10), 320),  # narrow crops get the minimum width
        ((24, 240), 480),  # 480 wide once resized to height 48
        ((24, 241), 640),
        ((48, 1280), 1280),
        ((10, 1000), 1280),  # wider than the largest bucket: squeezed into it
        ((100, 1), 320),
    ],
)
def test_choose_width_bucket(crop: tuple[int, int], bucket: int) -> None:
    assert choose_width_bucket(*crop, REC) == bucket


def test_recognition_batch_resizes_keeps_ratio_and_pads_with_zeros():
    crops = [np.full((24, 40, 3), 255, dtype=np.uint8), np.zeros((48, 96, 3), dtype=np.uint8)]
    batch = recognition_batch(crops, REC, 320)
    assert batch.shape == (2, 3, 48, 320) and batch.dtype == np.float32
    assert np.allclose(batch[0, :, :, :80], 1.0) and np.allclose(batch[0, :, :, 80:], 0.0)
    assert np.allclose(batch[1, :, :, :96], -1.0) and np.allclose(batch[1, :, :, 96:], 0.0)


def test_recognition_batch_squeezes_wide_crops():
    crop = np.zeros((10, 1000, 3), dtype=np.uint8)
    batch = recognition_batch([crop], REC, REC.max_width)
    assert batch.shape == (1, 3, 48, 1280)
    assert np.allclose(batch, -1.0)  # filled edge to edge, no padding
