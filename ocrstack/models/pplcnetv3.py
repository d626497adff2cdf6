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
        # Typed as any module: folding for inference swaps them for plainer ones.
        self.affine: nn.Module = LearnableAffine()
        self.act: nn.Module = AffineHardSwish() if stride != 2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.affine(self.conv(x)))

    def fold_affine(self) -> None:
        """Fold the affine map that follows the conv into its weights and bias (exact)."""
        if isinstance(self.affine, LearnableAffine):
            scale, bias = self.affine.scale.detach(), self.affine.bias.detach()
            assert self.conv.bias is not None
            self.conv.weight.data.mul_(scale)
            self.conv.bias.data.mul_(scale).add_(bias)
            self.affine = nn.Identity()

    def absorb_input_affine(self, affine: LearnableAffine) -> None:
        """Make this conv read ``x`` where it read ``scale * x + bias``. Exact for a 1x1 convolution
        only: a padded kernel would see zeros at the borders where it used to see ``bias``."""
        weight = self.conv.weight.data
        if weight.shape[2:] != (1, 1) or self.conv.groups != 1:
            raise ValueError("only a dense 1x1 convolution can absorb the affine map before it")
        scale, bias = affine.scale.detach(), affine.bias.detach()
        assert self.conv.bias is not None
        self.conv.bias.data.add_(bias * weight.sum(dim=(1, 2, 3)))
        weight.mul_(scale)


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

    def fold_affines(self) -> None:
        """Fold every learnable affine map that can be folded exactly into a convolution: the one after
        each conv, and the one after the depthwise activation into the pointwise conv when no
        squeeze-excite sits between them. What is left are the maps whose next conv is padded."""
        self.depthwise.fold_affine()
        self.pointwise.fold_affine()
        act = self.depthwise.act
        if isinstance(self.se, nn.Identity) and isinstance(act, AffineHardSwish):
            self.pointwise.absorb_input_affine(act.affine)
            self.depthwise.act = nn.Hardswish()


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
        return self.forward_from(self.stem(x), 0)

    def forward_from(self, x: torch.Tensor, first_stage: int) -> list[torch.Tensor]:
        """The stages from ``first_stage`` on, given what the stage before it (the stem, for 0) gave.
        Recognition only past stage 1: detection needs every stage's map. Training runs the first
        stages frozen elsewhere (``training.frozen_body``) and these in PyTorch."""
        if self.mode == "det" and first_stage > 1:
            raise ValueError("detection needs the maps of every stage from 1 on")
        features = []
        for index in range(first_stage, len(self.stages)):
            x = self.stages[index](x)
            if index > 0:
                features.append(x)
        if self.mode == "det":
            return [conv(f) for conv, f in zip(self.out_convs, features, strict=True)]
        # The released recognizer pools the 3-row map to height 1 with a fixed (3, 2) window.
        return [F.avg_pool2d(x, (3, 2))]


def fold_learnable_affines(model: nn.Module) -> int:
    """Fold the learnable affine maps of every PP-LCNetV3 block in ``model`` into its convolutions, in
    place, for inference; returns how many blocks were folded.

    Unfolded, each map is a Mul and an Add over the whole feature map, which ONNX Runtime does not fuse
    into the conv (the scalar comes first in the Mul). These memory-bound passes were about a third of
    the recognizer's CPU time and grew faster than the convolutions with the batch size. The outputs
    change only by float rounding.
    """
    blocks = [module for module in model.modules() if isinstance(module, LCNetV3Block)]
    for block in blocks:
        block.fold_affines()
    return len(blocks)
