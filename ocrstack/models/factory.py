"""Build a model from the architecture name its config record gives."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ocrstack.models.dbnet import DBNet
from ocrstack.models.ppocr_rec import PPOCRv4Recognizer


def _detector(num_classes: int | None) -> nn.Module:
    return DBNet()


def _ppocr_recognizer(num_classes: int | None) -> nn.Module:
    if num_classes is None:
        raise ValueError("a recognizer needs num_classes (blank + charset)")
    return PPOCRv4Recognizer(num_classes)


ARCHITECTURES: dict[str, Callable[[int | None], nn.Module]] = {
    "ppocrv4_mobile_det": _detector,
    "ppocrv4_mobile_rec": _ppocr_recognizer,
}


def build_model(architecture: str, num_classes: int | None = None) -> nn.Module:
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        raise KeyError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}") from None
    return factory(num_classes)
