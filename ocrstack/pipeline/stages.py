"""The pipeline's stages as plain functions over arrays.

The in-process :class:`~ocrstack.pipeline.pipeline.OcrPipeline` and the Triton python models both call
these, so the served pipeline and the reference cannot drift apart: only the way models are run differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ocrstack.config import DetectorConfig, Normalization, Orientation, RecognizerConfig
from ocrstack.pipeline.db_postprocess import boxes_from_probability_map
from ocrstack.pipeline.geometry import clip_quads, crop_quad, is_vertical, quad_size, rotate_to_horizontal
from ocrstack.pipeline.preprocess import choose_width_bucket, detection_input, pad_for_detection
from ocrstack.pipeline.reading_order import reading_order

T = TypeVar("T")

# The pipeline reads an image at most this many times the detector's longest input side (see
# working_side): recognition reads each line at a fixed height (48 px), so once a line is that tall in the
# working image more pixels add nothing, and the smallest lines the detector still finds at its input
# size are about a quarter of that there. 2 keeps every page of the real development sets as sent.
WORKING_SIDE_FACTOR = 2


def working_side(cfg: DetectorConfig) -> int:
    """The longest side an image is decoded at: larger images are brought down to it on decoding."""
    return WORKING_SIDE_FACTOR * cfg.max_input_side


@dataclass(frozen=True)
class DetectionPlan:
    """How an image became the detector's input, so that its probability map can be mapped back."""

    pad_top: int  # rows of black band added above (and below) the image
    padded_height: int  # image size with the bands
    padded_width: int
    input_height: int  # the resized input, before padding to a size bucket
    input_width: int
    image_height: int = 0  # of the image as sent, when the pipeline reads it smaller; 0: as read
    image_width: int = 0

    def as_array(self) -> np.ndarray:
        """As an INT32 vector, to travel between Triton models."""
        return np.array(
            [
                self.pad_top,
                self.padded_height,
                self.padded_width,
                self.input_height,
                self.input_width,
                self.image_height,
                self.image_width,
            ],
            dtype=np.int32,
        )

    @classmethod
    def from_array(cls, values: np.ndarray) -> DetectionPlan:
        return cls(*(int(v) for v in np.asarray(values).reshape(-1)[:7]))


@dataclass(frozen=True)
class LineCrops:
    """Detected lines in reading order, cut out and laid as rows for the recognizers."""

    quads: np.ndarray  # N x 4 x 2 float32, original image pixels
    crops: list[np.ndarray]  # vertical lines already turned 90 degrees counter-clockwise
    orientations: list[Orientation]


def black_value(norm: Normalization) -> np.ndarray:
    """A black pixel after normalisation, per channel (shape 3 x 1 x 1)."""
    mean, std = np.asarray(norm.mean, np.float32), np.asarray(norm.std, np.float32)
    return ((0.0 - mean) / std).reshape(3, 1, 1)


def pad_to_size_bucket(batch: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """Pad the input bottom/right with black up to multiples of ``cfg.size_bucket``, so that images of
    similar size share an input shape and can be batched together."""
    height, width = batch.shape[2:]
    bucket_h = -(-height // cfg.size_bucket) * cfg.size_bucket
    bucket_w = -(-width // cfg.size_bucket) * cfg.size_bucket
    if (bucket_h, bucket_w) == (height, width):
        return batch
    padded = np.empty((*batch.shape[:2], bucket_h, bucket_w), dtype=batch.dtype)
    padded[...] = black_value(cfg.normalization)
    padded[:, :, :height, :width] = batch
    return padded


class ImageTooSmallError(ValueError):
    pass


def prepare_detection(
    image: np.ndarray, cfg: DetectorConfig, sent_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, DetectionPlan]:
    """Image -> the detector's 1 x 3 x H x W input and the plan to map its output back. ``sent_size``
    (height, width): the image as sent, when ``image`` is a smaller working copy of it."""
    if min(image.shape[:2]) < cfg.min_image_side:
        raise ImageTooSmallError(
            f"image is {image.shape[1]}x{image.shape[0]} pixels; both sides must be at least "
            f"{cfg.min_image_side}"
        )
    padded, top = pad_for_detection(image, cfg)
    batch, _ = detection_input(padded, cfg)
    sent = (0, 0) if sent_size is None or tuple(sent_size) == image.shape[:2] else sent_size
    plan = DetectionPlan(top, padded.shape[0], padded.shape[1], batch.shape[2], batch.shape[3], *sent)
    return pad_to_size_bucket(batch, cfg), plan


def to_sent_pixels(quads: np.ndarray, plan: DetectionPlan, image_shape: tuple[int, ...]) -> np.ndarray:
    """Quads on the working image (``image_shape``) -> the pixels of the image as sent."""
    if not plan.image_height or not plan.image_width or not len(quads):
        return quads
    scale = np.array(
        [plan.image_width / image_shape[1], plan.image_height / image_shape[0]], dtype=np.float32
    )
    return (quads * scale).astype(np.float32)


def boxes_from_detection(
    probability: np.ndarray, plan: DetectionPlan, image_shape: tuple[int, ...], cfg: DetectorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The detector's output -> quads (N x 4 x 2 float32, original pixels) and their scores."""
    prob_map = probability.reshape(probability.shape[-2:])[: plan.input_height, : plan.input_width]
    padded_size = (plan.padded_height, plan.padded_width)
    quads, scores = boxes_from_probability_map(prob_map, cfg.postprocess, padded_size)
    if plan.pad_top == 0:
        return quads, scores
    quads[..., 1] -= plan.pad_top
    quads = clip_quads(quads, image_shape[0], image_shape[1])
    # A box that lay mostly in the bands is a sliver of the image now.
    keep = np.array([min(quad_size(q)) > cfg.postprocess.min_size for q in quads], dtype=bool)
    return quads[keep], scores[keep]


def cut_lines(image: np.ndarray, quads: np.ndarray) -> LineCrops:
    """Sort quads into reading order, crop them, and turn vertical ones on their side."""
    quads = quads[reading_order(quads)] if len(quads) else quads
    crops: list[np.ndarray] = []
    orientations: list[Orientation] = []
    for quad in quads:
        crop = crop_quad(image, quad)
        vertical = is_vertical(*crop.shape[:2])
        crops.append(rotate_to_horizontal(crop) if vertical else crop)
        orientations.append("vertical" if vertical else "horizontal")
    return LineCrops(quads, crops, orientations)


def route(
    orientations: Sequence[Orientation], available: Sequence[Orientation]
) -> dict[Orientation, list[int]]:
    """Indices of the crops each recognizer reads; without a vertical model the horizontal one reads all."""
    groups: dict[Orientation, list[int]] = defaultdict(list)
    for index, orientation in enumerate(orientations):
        groups[orientation if orientation in available else "horizontal"].append(index)
    return dict(groups)


def recognition_chunks(
    crops: Sequence[np.ndarray],
    cfg: RecognizerConfig,
    max_batch: int,
    max_total_width: int | None = None,
    padded_width: Callable[[np.ndarray], int] | None = None,
) -> list[tuple[int, list[int]]]:
    """(width bucket, crop indices) chunks: crops of one bucket together, at most ``max_batch`` each,
    and with ``max_total_width`` at most that many padded pixels of width per chunk (so wide buckets
    go in smaller batches: on CPU a batch's cost per crop grows once its activations outgrow the cache).
    ``padded_width`` replaces the bucket a crop is padded to (its width bucket by default).
    """
    by_bucket: dict[int, list[int]] = defaultdict(list)
    for index, crop in enumerate(crops):
        width = padded_width(crop) if padded_width else choose_width_bucket(crop.shape[0], crop.shape[1], cfg)
        by_bucket[width].append(index)
    chunks: list[tuple[int, list[int]]] = []
    for width, indices in sorted(by_bucket.items()):
        size = max_batch if max_total_width is None else max(1, min(max_batch, max_total_width // width))
        chunks.extend((width, indices[start : start + size]) for start in range(0, len(indices), size))
    return chunks


def in_crop_order(
    chunks: Sequence[tuple[int, Sequence[int]]], read: Sequence[Sequence[T]], count: int
) -> list[T]:
    """What was read chunk by chunk (``read[k]`` for ``chunks[k]``, one result per index) put back in the
    order of the ``count`` crops the chunks were made from."""
    placed: dict[int, T] = {}
    for (_, indices), chunk_read in zip(chunks, read, strict=True):
        placed.update(zip(indices, chunk_read, strict=True))
    if len(placed) != count:
        raise ValueError(f"the chunks hold {len(placed)} of {count} crops")
    return [placed[index] for index in range(count)]
