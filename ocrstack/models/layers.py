"""Building blocks shared by the PP-OCRv4 detector and recognizer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class HardSigmoid(nn.Module):
    """``clip(slope * x + 0.5, 0, 1)``. PyTorch's slope is 1/6; Paddle's default, used by the
    detector's neck, is 0.2, so the slope is explicit."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.slope * x + 0.5, 0.0, 1.0)


class LearnableAffine(nn.Module):
    """``scale * x + bias`` with one scalar each (PP-LCNetV3's learnable affine block)."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([scale]))
        self.bias = nn.Parameter(torch.tensor([bias]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.bias


class AffineHardSwish(nn.Module):
    """Hard swish followed by a learnable affine map, PP-LCNetV3's activation."""

    def __init__(self) -> None:
        super().__init__()
        self.affine = LearnableAffine()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.affine(F.hardswish(x))


class ConvBN(nn.Module):
    """Convolution without bias, batch norm, optional activation (grouped for depthwise convs)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        act: nn.Module | None = None,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, bottleneck, hard-sigmoid gate.

    With ``residual`` the gated map is added to the input (the RSE layers of the detector's neck).
    """

    def __init__(
        self, channels: int, reduction: int = 4, residual: bool = False, gate_slope: float = 1 / 6
    ) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(channels, channels // reduction, 1)
        self.excite = nn.Conv2d(channels // reduction, channels, 1)
        self.gate = HardSigmoid(gate_slope)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        w = self.gate(self.excite(F.relu(self.squeeze(w))))
        gated = x * w
        return x + gated if self.residual else gated
