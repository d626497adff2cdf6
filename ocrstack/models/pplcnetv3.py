"""PP-LCNetV3 backbone in its fused (re-parameterised) inference form.

Training-time PP-LCNetV3 sums several conv branches per layer; the released inference models have them
folded into one biased convolution, which is what this module holds. Layer order matches the forward
order of the released graphs, which the weight importer relies on.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ocrstack.models.layers import AffineHardSwish, ConvBN, LearnableAffine, SqueezeExcite

Stride = int | tuple[int, int]
# (kernel, in_channels, out_channels, stride, use_se) before width scaling.
BlockSpec = tuple[int, int, int, Stride, bool]

_SHARED_EARLY: list[list[BlockSpec]] = [[(3, 16, 32, 1, False)]]

DET_STAGES: list[list[BlockSpec]] = [
    *_SHARED_EARLY,
    [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    [(3, 128, 256, 2, False), *[(5, 256, 256, 1, False)] * 4],
    [(5, 256, 512, 2, True), (5, 512, 512, 1, True), (5, 512, 512, 1, False), (5, 512, 512, 1, False)],
]

# Recognition keeps horizontal resolution: strides (2, 1) halve only the height.
REC_STAGES: list[list[BlockSpec]] = [
    *_SHARED_EARLY,
    [(3, 32, 64, 1, False), (3, 64, 64, 1, False)],
    [(3, 64, 128, (2, 1), False), (3, 128, 128, 1, False)],
    [(3, 128, 256, (1, 2), False), *[(5, 256, 256, 1, False)] * 4],
    [
        (5, 256, 512, (2, 1), True),
        (5, 512, 512, 1, True),
        (5, 512, 512, (2, 1), False),
        (5, 512, 512, 1, False),
    ],
]

# Channels of the 1x1 convolutions that feed the detector's neck, before width scaling.
DET_OUT_CHANNELS = (16, 24, 56, 480)


def make_divisible(value: float, divisor: int = 16) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` without losing more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class RepConv(nn.Module):
    """A re-parameterised conv layer: biased conv, learnable affine, activation.

    PP-LCNetV3 skips the activation only when the stride is the plain integer 2; the (2, 1) and
    (1, 2) strides of the recognizer keep it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: Stride, groups: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups)
        self.affine = LearnableAffine()
        self.act = AffineHardSwish() if stride != 2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.affine(self.conv(x)))


class LCNetV3Block(nn.Module):
    """Depthwise RepConv, optional squeeze-excite, pointwise RepConv."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: Stride, use_se: bool
    ) -> None:
        super().__init__()
        self.depthwise = RepConv(in_channels, in_channels, kernel, stride, groups=in_channels)
        self.se = SqueezeExcite(in_channels) if use_se else nn.Identity()
        self.pointwise = RepConv(in_channels, out_channels, 1, 1, groups=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


class PPLCNetV3(nn.Module):
    """Backbone for detection (four feature maps) or recognition (one map of height 1)."""

    def __init__(self, scale: float, mode: Literal["det", "rec"]) -> None:
        super().__init__()
        self.mode = mode
        stages = DET_STAGES if mode == "det" else REC_STAGES
        self.stem = ConvBN(3, make_divisible(16 * scale), 3, stride=2, padding=1)
        self.stages = nn.ModuleList(
            nn.Sequential(
                *(
                    LCNetV3Block(make_divisible(i * scale), make_divisible(o * scale), k, s, se)
                    for k, i, o, s, se in stage
                )
            )
            for stage in stages
        )
        stage_channels = [make_divisible(stage[-1][2] * scale) for stage in stages[1:]]
        self.out_channels: list[int] = (
            [int(c * scale) for c in DET_OUT_CHANNELS] if mode == "det" else [stage_channels[-1]]
        )
        if mode == "det":
            self.out_convs = nn.ModuleList(
                nn.Conv2d(c, o, 1) for c, o in zip(stage_channels, self.out_channels, strict=True)
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stages[0](self.stem(x))
        features = []
        for stage in self.stages[1:]:
            x = stage(x)
            features.append(x)
        if self.mode == "det":
            return [conv(f) for conv, f in zip(self.out_convs, features, strict=True)]
        # The released recognizer pools the 3-row map to height 1 with a fixed (3, 2) window.
        return [F.avg_pool2d(x, (3, 2))]
