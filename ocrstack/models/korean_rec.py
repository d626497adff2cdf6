"""Lightweight CTC recognizer for Korean text lines: MobileNetV3-style backbone + BiLSTM + linear head.

Tensor contract (N: batch, C: ``num_classes``, class 0 is the CTC blank): input ``[N, 3, 48, W]``, read
left to right; output ``[N, ceil(W / 8), C]``. Any W works; the pipeline pads crops to width buckets,
multiples of 8, anyway. This is the layout of every recognizer, so Triton configs, width buckets and
TensorRT profiles are the same for all of them.

Vertical text reaches the model already turned: the pipeline rotates a column 90 degrees
counter-clockwise (``ocrstack.pipeline.geometry.rotate_to_horizontal``), which puts its top on the left.
A vertical model is this architecture trained on crops turned that way, glyphs lying on their side; it
differs from a horizontal one only in its weights.

``forward`` returns softmax probabilities (what is exported and served); training asks for
log-probabilities (``log_probs(x)``) or raw logits (``logits(x)``).

Export goes through ``convert/`` like every model: the TorchScript exporter (``dynamo=False``) at opset 17
gives one ONNX LSTM node with a dynamic sequence length. With torch 2.13 the torch.export-based exporter
cannot emit opset 17 (it falls back to 18), leaves ~30 Slice/Concat nodes around the LSTM weights and
names the output length by a symbolic expression instead of the given axis name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ocrstack.models.layers import ConvBN, SqueezeExcite

INPUT_HEIGHT = 48
SEQUENCE_STRIDE = 8  # input columns per output time step


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
# Height 48 -> 24 (stem) -> 12 -> 6 -> 3; width W -> W/2 (stem) -> W/4 -> W/8, then kept.
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
    """[N, 3, 48, W] -> [N, W / 8, out_channels]: a sequence of column features."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBN(3, STEM_CHANNELS, 3, 2, 1, nn.Hardswish())]
        channels = STEM_CHANNELS
        for spec in BLOCKS:
            layers.append(InvertedResidual(channels, spec))
            channels = spec.out
        self.features = nn.Sequential(*layers)
        # A learned (3 x 1) kernel collapses the remaining height: unlike pooling it keeps the vertical
        # arrangement of strokes (ㅗ and ㅜ differ by it).
        self.collapse = ConvBN(channels, out_channels, (FEATURE_HEIGHT, 1), act=nn.Hardswish())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.collapse(self.features(x))  # [N, C, 1, W/8]
        return x.squeeze(2).transpose(1, 2)


class KoreanRecognizer(nn.Module):
    """CTC text-line recognizer; see the module docstring for the tensor contract.

    ``num_classes`` counts the blank (class 0): charset size + 1 (+ 1 with a space class).
    ``hidden_size`` is per LSTM direction; the head sees ``2 * hidden_size`` features.
    """

    def __init__(
        self,
        num_classes: int,
        neck_channels: int = 192,
        hidden_size: int = 96,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must count the blank and at least one character: {num_classes}")
        self.num_classes = num_classes
        self.backbone = Backbone(neck_channels)
        self.lstm = nn.LSTM(neck_channels, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw class scores ``[N, T, num_classes]``."""
        # The check reads a static size; skipped under tracing, which would only warn about it.
        if not torch.jit.is_tracing() and x.shape[2] != INPUT_HEIGHT:
            raise ValueError(f"input must be [N, 3, {INPUT_HEIGHT}, W], got {tuple(x.shape)}")
        features = self.backbone(x)
        features, _ = self.lstm(features)
        return self.head(self.dropout(features))

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
        return -(-length // SEQUENCE_STRIDE)  # each stride-2 convolution rounds up

    def example_input(self, length: int = 160, batch: int = 1) -> torch.Tensor:
        """A random ``[batch, 3, 48, length]`` input, for export and tests."""
        return torch.rand(batch, 3, INPUT_HEIGHT, length)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
