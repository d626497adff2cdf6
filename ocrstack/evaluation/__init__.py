"""Accuracy evaluation: the real benchmark set and the metrics used to compare against the peer."""

from ocrstack.evaluation.dataset import Sample, TextBox, data_root, load_samples, read_icdar_gt
from ocrstack.evaluation.metrics import (
    Counts,
    CropScore,
    CropSummary,
    IcdarCounts,
    character_counts,
    evaluate_icdar,
    normalize_text,
    score_crop,
    summarize_crops,
    token_counts,
)

__all__ = [
    "Counts",
    "CropScore",
    "CropSummary",
    "IcdarCounts",
    "Sample",
    "TextBox",
    "character_counts",
    "data_root",
    "evaluate_icdar",
    "load_samples",
    "normalize_text",
    "read_icdar_gt",
    "score_crop",
    "summarize_crops",
    "token_counts",
]
