"""Lightweight CTC recognizer for Korean text lines: MobileNetV3-style backbone + BiLSTM + linear head.

Tensor contract (N: batch, C: ``num_classes``, class 0 is the CTC blank): input ``[N, 3, 48, W]``, read
left to right; output ``[N, ceil(W / s), C]`` for a sequence stride ``s`` of 8 or 4. Any W works; the
pipeline pads crops to width buckets, multiples of 8, anyway. The input is every recognizer's layout, and
the output's length is left dynamic, so Triton configs, width buckets and TensorRT profiles are the same
for all of them.

Sequence stride. At 8, one output step covers 8 input columns: a Hangul syllable, about as wide as the
line is high, gets four or more, but a narrow Latin letter or a colon at the heights detector crops give
(``l``, ``i``, ``I``, ``:``: 5 to 10 columns) can get less than one, and CTC cannot emit two characters in
one step. Read at stride 8, those were most of the characters the horizontal model dropped on its held-out
set. Horizontal lines mix Hangul with Latin words, digits and punctuation, so their model uses stride 4:
the fourth block keeps the width instead of halving it. That costs 1.65 (batch 1) to 1.85 (batch 8) times
the CPU time per crop, as the later blocks and the BiLSTM see twice the columns, and changes no weight's
shape. Columns are mostly stacked syllables, so the vertical model keeps stride 8.

Vertical text reaches the model already turned: the pipeline rotates a column 90 degrees
counter-clockwise (``ocrstack.pipeline.geometry.rotate_to_horizontal``), which puts its top on the left.
A vertical model is this architecture trained on crops turned that way, glyphs lying on their side; it
differs from a horizontal one only in its weights.

The head scores each class with a linear layer, and a Hangul syllable also with the scores of its three
jamo (initial consonant, vowel, final consonant; :class:`JamoScores`). The 2,350 syllables of the charset
are built from 19 + 21 + 28 jamo: what the model learns of a jamo in common syllables carries to every
rare syllable that has it, which a plain 2,500-way classifier learns syllable by syllable. The class ->
jamo table is a buffer filled from the charset (:meth:`KoreanRecognizer.set_charset`) and saved with the
weights; a model built without a charset scores with the linear layer alone.

``forward`` returns softmax probabilities (what is exported and served); training asks for
log-probabilities (``log_probs(x)``) or raw logits (``logits(x)``).

Export goes through ``convert/`` like every model: the TorchScript exporter (``dynamo=False``) at opset 17
gives one ONNX LSTM node with a dynamic sequence length. With torch 2.13 the torch.export-based exporter
cannot emit opset 17 (it falls back to 18), leaves ~30 Slice/Concat nodes around the LSTM weights and
names the output length by a symbolic expression instead of the given axis name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ocrstack.models.layers import ConvBN, SqueezeExcite

INPUT_HEIGHT = 48


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block: expand (1x1) -> depthwise (k x k) -> [SE] -> project (1x1)."""

    kernel: int
    expanded: int
    out: int
    se: bool
    hard_swish: bool  # hard-swish where the features are rich enough to pay for it, ReLU early on
    stride: tuple[int, int]  # (height, width): the width keeps more resolution, it is the time axis


STEM_CHANNELS = 16
# Height 48 -> 24 (stem) -> 12 -> 6 -> 3; width W -> W/2 (stem) -> W/4 -> W/8, then kept (at sequence
# stride 4 the fourth block keeps W/4: see backbone_blocks).
BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec(3, 16, 16, se=True, hard_swish=False, stride=(2, 2)),
    BlockSpec(3, 72, 24, se=False, hard_swish=False, stride=(1, 1)),
    BlockSpec(3, 88, 24, se=False, hard_swish=False, stride=(1, 1)),
    BlockSpec(5, 96, 40, se=True, hard_swish=True, stride=(2, 2)),
    BlockSpec(5, 200, 40, se=True, hard_swish=True, stride=(1, 1)),
    BlockSpec(5, 200, 40, se=True, hard_swish=True, stride=(1, 1)),
    BlockSpec(5, 160, 56, se=True, hard_swish=True, stride=(1, 1)),
    BlockSpec(5, 224, 80, se=True, hard_swish=True, stride=(2, 1)),
    BlockSpec(5, 320, 80, se=True, hard_swish=True, stride=(1, 1)),
    BlockSpec(5, 320, 80, se=True, hard_swish=True, stride=(1, 1)),
)
FEATURE_HEIGHT = 3  # height left after the backbone's height strides (48 / 16)
SEQUENCE_STRIDES = (4, 8)


def backbone_blocks(sequence_stride: int) -> tuple[BlockSpec, ...]:
    """:data:`BLOCKS` for a sequence stride: the stem halves the width, then the first blocks that halve
    it keep doing so until the stride is reached; later ones keep the width (at 8 the blocks are
    :data:`BLOCKS`, at 4 the fourth block keeps the width)."""
    if sequence_stride not in SEQUENCE_STRIDES:
        raise ValueError(f"sequence stride must be one of {SEQUENCE_STRIDES}, got {sequence_stride}")
    halving = [i for i, spec in enumerate(BLOCKS) if spec.stride[1] == 2]
    flattened = set(halving[sequence_stride.bit_length() - 2 :])  # the stem does the first halving
    return tuple(
        replace(spec, stride=(spec.stride[0], 1)) if i in flattened else spec for i, spec in enumerate(BLOCKS)
    )


HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
INITIALS, VOWELS, FINALS = 19, 21, 28  # a syllable is 0xAC00 + (initial * 21 + vowel) * 28 + final
JAMO_SLOTS = 1 + INITIALS + VOWELS + FINALS  # slot 0 scores 0: "no jamo", for every other class


def jamo_table(charset: Sequence[str]) -> torch.Tensor:
    """``[3, len(charset) + 1]`` int64: for each class (0 the blank, then the charset), the slots of its
    initial, vowel and final among the :data:`JAMO_SLOTS` jamo scores; 0 for classes that are not
    precomposed Hangul syllables."""
    table = torch.zeros(3, len(charset) + 1, dtype=torch.long)
    for position, char in enumerate(charset, start=1):
        code = ord(char) - HANGUL_FIRST if len(char) == 1 else -1
        if 0 <= code <= HANGUL_LAST - HANGUL_FIRST:
            initial, rest = divmod(code, VOWELS * FINALS)
            vowel, final = divmod(rest, FINALS)
            table[:, position] = torch.tensor(
                [1 + initial, 1 + INITIALS + vowel, 1 + INITIALS + VOWELS + final]
            )
    return table


def check_line_height(image: torch.Tensor) -> None:
    """ValueError unless ``image`` is ``[N, 3, INPUT_HEIGHT, W]``. The check reads a static size, so it is
    skipped under tracing, which would only warn about it."""
    if not torch.jit.is_tracing() and image.shape[2] != INPUT_HEIGHT:
        raise ValueError(f"input must be [N, 3, {INPUT_HEIGHT}, W], got {tuple(image.shape)}")


class JamoScores(nn.Module):
    """Features ``[N, T, F]`` -> ``[N, T, num_classes]``: each class's summed jamo scores (0 for a class
    without jamo). Starts at zero (zero weights), so adding it to a trained head changes nothing at first.
    """

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.scores = nn.Linear(features, JAMO_SLOTS - 1)
        nn.init.zeros_(self.scores.weight)
        nn.init.zeros_(self.scores.bias)
        self.register_buffer("table", torch.zeros(3, num_classes, dtype=torch.long))

    @property
    def _table(self) -> torch.Tensor:
        return self.table  # type: ignore[return-value]

    def set_table(self, charset: Sequence[str]) -> None:
        """Tie the scores to the charset's Hangul syllables (the charset fills every class but the blank)."""
        classes = self._table.shape[1]
        if len(charset) + 1 != classes:
            raise ValueError(f"{len(charset)} characters + blank != {classes} classes")
        self._table.copy_(jamo_table(charset))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        jamo = self.scores(features)
        slots = torch.cat([torch.zeros_like(jamo[..., :1]), jamo], dim=-1)  # slot 0: no jamo
        table = self._table
        return slots[..., table[0]] + slots[..., table[1]] + slots[..., table[2]]


class InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, spec: BlockSpec) -> None:
        super().__init__()
        act = nn.Hardswish if spec.hard_swish else nn.ReLU
        e = spec.expanded
        layers: list[nn.Module] = []
        if e != in_channels:
            layers.append(ConvBN(in_channels, e, 1, act=act()))
        layers.append(ConvBN(e, e, spec.kernel, spec.stride, spec.kernel // 2, act(), groups=e))  # depthwise
        if spec.se:
            # Its gates average the whole line, padding included: the model is trained on crops padded
            # the way the pipeline pads them, so the gates see at training what they see when served.
            layers.append(SqueezeExcite(e))
        layers.append(ConvBN(e, spec.out, 1))
        self.body = nn.Sequential(*layers)
        self.residual = spec.stride == (1, 1) and in_channels == spec.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class Backbone(nn.Module):
    """[N, 3, 48, W] -> [N, W / sequence_stride, out_channels]: a sequence of column features."""

    def __init__(self, out_channels: int, sequence_stride: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBN(3, STEM_CHANNELS, 3, 2, 1, nn.Hardswish())]
        channels = STEM_CHANNELS
        for spec in backbone_blocks(sequence_stride):
            layers.append(InvertedResidual(channels, spec))
            channels = spec.out
        self.features = nn.Sequential(*layers)
        # A learned (3 x 1) kernel collapses the remaining height: unlike pooling it keeps the vertical
        # arrangement of strokes (ㅗ and ㅜ differ by it).
        self.collapse = ConvBN(channels, out_channels, (FEATURE_HEIGHT, 1), act=nn.Hardswish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.collapse(self.features(x))  # [N, C, 1, W / stride]
        return x.squeeze(2).transpose(1, 2)


class KoreanRecognizer(nn.Module):
    """CTC text-line recognizer; see the module docstring for the tensor contract.

    ``num_classes`` counts the blank (class 0): charset size + 1 (+ 1 with a space class).
    ``sequence_stride``: input columns per output step, 8 or 4 (see the module docstring).
    ``hidden_size`` is per LSTM direction; the head sees ``2 * hidden_size`` features.
    """

    def __init__(
        self,
        num_classes: int,
        sequence_stride: int = 8,
        neck_channels: int = 192,
        hidden_size: int = 96,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must count the blank and at least one character: {num_classes}")
        self.num_classes, self.sequence_stride = num_classes, sequence_stride
        self.backbone = Backbone(neck_channels, sequence_stride)
        self.lstm = nn.LSTM(neck_channels, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)
        self.jamo = JamoScores(2 * hidden_size, num_classes)

    def set_charset(self, charset: Sequence[str]) -> None:
        """Tie the head's jamo scores to the charset's Hangul syllables (see the module docstring)."""
        self.jamo.set_table(charset)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw class scores ``[N, T, num_classes]``."""
        check_line_height(x)
        features = self.backbone(x)
        features, _ = self.lstm(features)
        features = self.dropout(features)
        return self.head(features) + self.jamo(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[N, T, num_classes]``: what is exported and served."""
        return F.softmax(self.logits(x), dim=-1)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[N, T, num_classes]`` for CTC training (transpose to ``[T, N, C]`` for
        ``nn.CTCLoss``). A separate method rather than a flag on ``forward``: the TorchScript exporter
        would trace a flag as a tensor input."""
        return F.log_softmax(self.logits(x), dim=-1)

    def sequence_length(self, length: int) -> int:
        """Output time steps for an input ``length`` pixels wide."""
        return -(-length // self.sequence_stride)  # each stride-2 convolution rounds up

    def example_input(self, length: int = 160, batch: int = 1) -> torch.Tensor:
        """A random ``[batch, 3, 48, length]`` input, for export and tests."""
        return torch.rand(batch, 3, INPUT_HEIGHT, length)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
