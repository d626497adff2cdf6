"""Korean recognizer on the PP-OCRv4 mobile body: real-data-trained features, a Korean CTC head.

The project's first Korean recognizers (:mod:`ocrstack.models.korean_rec`) learned every feature from
rendered lines, and read photographs poorly: blur, glare, low resolution and textured backgrounds were
never in what they saw. The PP-OCRv4 recognizer body (PP-LCNetV3 backbone + SVTR neck) was trained by
PaddleOCR on millions of real crops. This model keeps that body, imported with the Chinese/English
weights (:func:`init_from_ppocr`), and puts the Korean head on it: a linear layer over the Korean charset
plus the jamo scores of :class:`ocrstack.models.korean_rec.JamoScores`, so that a rare syllable learns
from the common ones that share its jamo. Fine-tuning on the project's photo-like Korean lines then
teaches the head Hangul while the body keeps what it knows of photographs.

Tensor contract: the same as every recognizer, ``[N, 3, 48, W]`` in, ``[N, W / 8, num_classes]``
probabilities out (class 0 the blank).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ocrstack.models.korean_rec import INPUT_HEIGHT, JamoScores, check_line_height
from ocrstack.models.ppocr_rec import PPOCRv4Recognizer

SEQUENCE_STRIDE = 8
HEAD_PREFIXES = ("classifier.", "jamo.")


class KoreanPPOCRRecognizer(PPOCRv4Recognizer):
    """PP-OCRv4 mobile body + Korean head (linear + jamo scores). ``num_classes`` counts the blank."""

    sequence_stride = SEQUENCE_STRIDE

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must count the blank and at least one character: {num_classes}")
        super().__init__(num_classes)
        self.num_classes = num_classes
        self.jamo = JamoScores(self.encoder.out_channels, num_classes)

    def set_charset(self, charset: Sequence[str]) -> None:
        """Tie the head's jamo scores to the charset's Hangul syllables."""
        self.jamo.set_table(charset)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        check_line_height(image)
        sequence = self.sequence(image)
        return self.classifier(sequence) + self.jamo(sequence)

    def log_probs(self, image: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[N, T, num_classes]`` for CTC training."""
        return F.log_softmax(self.logits(image), dim=-1)

    def log_probs_from(self, features: torch.Tensor, first_stage: int) -> torch.Tensor:
        """:meth:`log_probs` from the output of backbone stage ``first_stage - 1`` (0: the stem), for
        training with the stages before it frozen."""
        sequence = self.sequence_from(features, first_stage)
        return F.log_softmax(self.classifier(sequence) + self.jamo(sequence), dim=-1)

    def sequence_length(self, length: int) -> int:
        return -(-length // self.sequence_stride)

    def example_input(self, length: int = 160, batch: int = 1) -> torch.Tensor:
        return torch.rand(batch, 3, INPUT_HEIGHT, length)

    def frozen_prefix(self, stages: int) -> torch.nn.Sequential:
        """The stem and the first ``stages`` backbone stages (shared modules, not a copy)."""
        return torch.nn.Sequential(self.backbone.stem, *self.backbone.stages[:stages])


def init_from_ppocr(
    model: KoreanPPOCRRecognizer,
    state: Mapping[str, torch.Tensor],
    source_charset: Sequence[str],
    charset: Sequence[str],
) -> int:
    """Load a PP-OCRv4 recognizer's weights (``state``, read with ``source_charset``) into ``model``.

    The body is copied whole. The head's rows are copied for every character both charsets have (Latin
    letters, digits, punctuation: what PP-OCR already reads), and the blank's; Hangul rows, which the
    source never had, keep their fresh initialisation. Returns how many characters were carried over.
    """
    body = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or any(not key.startswith(HEAD_PREFIXES) for key in missing):
        raise ValueError(f"not a PP-OCRv4 recognizer body: missing {missing}, unexpected {unexpected}")
    weight, bias = state["classifier.weight"], state["classifier.bias"]
    if weight.shape[0] != len(source_charset) + 1:
        raise ValueError(f"source head has {weight.shape[0]} classes, charset {len(source_charset)} + blank")
    source_index = {char: position + 1 for position, char in enumerate(source_charset)}
    pairs = [(0, 0)] + [
        (position + 1, source_index[char]) for position, char in enumerate(charset) if char in source_index
    ]
    targets = torch.tensor([t for t, _ in pairs])
    sources = torch.tensor([s for _, s in pairs])
    with torch.no_grad():
        model.classifier.weight[targets] = weight[sources]
        model.classifier.bias[targets] = bias[sources]
        # Characters the source never read start as unlikely as its rarest class, not at chance: the
        # carried-over rows keep their calibration against the blank.
        fresh = torch.ones(model.num_classes, dtype=torch.bool)
        fresh[targets] = False
        model.classifier.bias[fresh] = bias.min()
    return len(pairs) - 1
