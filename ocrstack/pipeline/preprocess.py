"""Images and crops -> normalised network inputs, with the sizes the config records prescribe."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ocrstack.config import DetectorConfig, Normalization, RecognizerConfig


def normalize(image: np.ndarray, norm: Normalization) -> np.ndarray:
    """BGR uint8 H x W x 3 -> float32 C x H x W, in the channel order the network was trained with.

    Each channel is computed in place in its own plane, ``(value * scale - mean) / std`` in float32 as the
    networks' parity was checked with, bit for bit: a sixth of the time of whole-image float copies and a
    transpose on a detector input."""
    sources = (2, 1, 0) if norm.channel_order == "RGB" else (0, 1, 2)
    planes = np.empty((3, *image.shape[:2]), dtype=np.float32)
    for plane, source in enumerate(sources):
        np.multiply(image[..., source], np.float32(norm.scale), out=planes[plane])
        planes[plane] -= np.float32(norm.mean[plane])
        planes[plane] /= np.float32(norm.std[plane])
    return planes


def _round_to_multiple(length: float, multiple: int) -> int:
    # Python's round() (half to even) keeps sizes identical to the peer's on exact halves.
    return max(multiple, round(int(length) / multiple) * multiple)


def detection_size(height: int, width: int, cfg: DetectorConfig) -> tuple[int, int]:
    """Input size (h, w) for an image: the config's resize policy, then the long-side cap.

    "min": the short side is brought up to ``limit_side_len`` (never down); "max": the long side is
    brought down to it (never up). Both sides end on multiples of ``multiple``, at least one multiple.
    """
    short, long = min(height, width), max(height, width)
    if cfg.limit_type == "min":
        ratio = max(1.0, cfg.limit_side_len / short)
    else:
        ratio = min(1.0, cfg.limit_side_len / long)
    ratio = min(ratio, cfg.max_side_len / long)
    new_h = _round_to_multiple(height * ratio, cfg.multiple)
    new_w = _round_to_multiple(width * ratio, cfg.multiple)
    # Rounding may step just past the cap; step back inside it.
    return min(new_h, cfg.max_input_side), min(new_w, cfg.max_input_side)


def detection_input(image: np.ndarray, cfg: DetectorConfig) -> tuple[np.ndarray, tuple[float, float]]:
    """Resize and normalise an image for the detector.

    Returns the 1 x 3 x H x W float32 batch and ``(ratio_h, ratio_w)``, the input size divided by the
    image size along each axis.
    """
    height, width = image.shape[:2]
    new_h, new_w = detection_size(height, width, cfg)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    batch = normalize(resized, cfg.normalization)[None]
    return batch, (new_h / height, new_w / width)


def detection_padding(height: int, width: int, cfg: DetectorConfig) -> int:
    """Rows of padding to add above and below an image before detection (0 for most images).

    A single short or very wide line would otherwise be scaled until it fills the input, where DB
    finds it poorly; the bands make the page about twice as tall as an eighth of its width.
    """
    if height > cfg.pad_min_height and width / height <= cfg.pad_max_aspect:
        return 0
    target = 2 * max(int(width / cfg.pad_max_aspect), cfg.pad_min_height)
    return max(0, (target - height) // 2)


def pad_for_detection(image: np.ndarray, cfg: DetectorConfig) -> tuple[np.ndarray, int]:
    """Add the bands of :func:`detection_padding` (black, as the peer); returns the image and the top pad."""
    pad = detection_padding(image.shape[0], image.shape[1], cfg)
    if pad == 0:
        return image, 0
    padded = cv2.copyMakeBorder(image, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return padded, pad


def resized_width(crop_h: int, crop_w: int, height: int) -> int:
    """Width of a crop once resized to ``height`` keeping its aspect ratio (rounded up, at least 1)."""
    return max(1, math.ceil(height * crop_w / max(crop_h, 1)))


def choose_width_bucket(crop_h: int, crop_w: int, cfg: RecognizerConfig) -> int:
    """Smallest width bucket that holds the resized crop; wider crops get the largest (and are squeezed)."""
    width = resized_width(crop_h, crop_w, cfg.height)
    for bucket in cfg.width_buckets:
        if width <= bucket:
            return bucket
    return cfg.max_width


def recognition_batch(crops: Sequence[np.ndarray], cfg: RecognizerConfig, width: int) -> np.ndarray:
    """Crops -> N x 3 x height x width float32: resized to ``cfg.height`` keeping their aspect ratio
    (squeezed when wider than ``width``), normalised, and right-padded with zeros."""
    batch = np.zeros((len(crops), 3, cfg.height, width), dtype=np.float32)
    for index, crop in enumerate(crops):
        new_w = min(width, resized_width(crop.shape[0], crop.shape[1], cfg.height))
        resized = cv2.resize(crop, (new_w, cfg.height), interpolation=cv2.INTER_LINEAR)
        batch[index, :, :, :new_w] = normalize(resized, cfg.normalization)
    return batch
