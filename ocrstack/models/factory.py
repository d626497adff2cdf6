"""Build a model from the architecture name its config record gives."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ocrstack.models.dbnet import DBNet
from ocrstack.models.korean_ppocr_rec import KoreanPPOCRRecognizer
from ocrstack.models.korean_rec import KoreanRecognizer
from ocrstack.models.ppocr_rec import PPOCRv4Recognizer
from ocrstack.models.ppocrv6 import PPOCRv6Detector, PPOCRv6Recognizer


def _detector(num_classes: int | None) -> nn.Module:
    return DBNet()


def _recognizer_classes(num_classes: int | None) -> int:
    if num_classes is None:
        raise ValueError("a recognizer needs num_classes (blank + charset)")
    return num_classes


def _ppocr_recognizer(num_classes: int | None) -> nn.Module:
    return PPOCRv4Recognizer(_recognizer_classes(num_classes))


def _ppocrv6_detector(num_classes: int | None) -> nn.Module:
    return PPOCRv6Detector()


def _ppocrv6_recognizer(num_classes: int | None) -> nn.Module:
    return PPOCRv6Recognizer(_recognizer_classes(num_classes))


def _korean_recognizer(sequence_stride: int) -> Callable[[int | None], nn.Module]:
    return lambda num_classes: KoreanRecognizer(_recognizer_classes(num_classes), sequence_stride)


def _korean_ppocr_recognizer(num_classes: int | None) -> nn.Module:
    return KoreanPPOCRRecognizer(_recognizer_classes(num_classes))


ARCHITECTURES: dict[str, Callable[[int | None], nn.Module]] = {
    "ppocrv4_mobile_det": _detector,
    "ppocrv4_mobile_rec": _ppocr_recognizer,
    "ppocrv6_small_det": _ppocrv6_detector,
    "ppocrv6_small_rec": _ppocrv6_recognizer,
    # Vertical crops arrive rotated, so both orientations use one design; horizontal lines, with their
    # narrow Latin letters and punctuation, read at twice the sequence resolution (see korean_rec).
    "korean_mobilenetv3_bilstm": _korean_recognizer(8),
    "korean_mobilenetv3_bilstm_stride4": _korean_recognizer(4),
    # The PP-OCRv4 mobile body with its real-data weights and a Korean head (korean_ppocr_rec).
    "korean_ppocrv4_rec": _korean_ppocr_recognizer,
}


def build_model(architecture: str, num_classes: int | None = None) -> nn.Module:
    try:
        factory = ARCHITECTURES[architecture]
    except KeyError:
        raise KeyError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}") from None
    return factory(num_classes)
