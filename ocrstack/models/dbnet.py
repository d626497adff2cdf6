"""DBNet text detector with the PP-OCRv4 mobile architecture: PP-LCNetV3, RSE-FPN neck, DB head
(PP-OCRv5 mobile keeps it; PP-OCRv6 reuses the neck, see ``ppocrv6``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ocrstack.models.layers import ConvBN, SqueezeExcite
from ocrstack.models.pplcnetv3 import PPLCNetV3


class RSELayer(nn.Module):
    """Convolution followed by a residual squeeze-excite."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)
        self.se = SqueezeExcite(out_channels, reduction=4, residual=True, gate_slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="nearest")


def _smooth_3x3(in_channels: int, out_channels: int) -> nn.Module:
    return RSELayer(in_channels, out_channels, 3)


class RSEFPN(nn.Module):
    """Top-down feature pyramid; every level is brought to 1/4 resolution and concatenated.

    ``smooth`` builds each level's output layer from (channels in, channels out); PP-OCRv4 and v5 use a
    3x3 RSE layer, PP-OCRv6 a large-kernel depthwise one.
    """

    def __init__(
        self,
        in_channels: list[int],
        out_channels: int,
        smooth: Callable[[int, int], nn.Module] = _smooth_3x3,
    ) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(RSELayer(c, out_channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(smooth(out_channels, out_channels // 4) for _ in in_channels)
        self.out_channels = out_channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        c2, c3, c4, c5 = features
        # Deepest level first: the released graph runs the layers in this order.
        in5 = self.lateral[3](c5)
        in4 = self.lateral[2](c4)
        in3 = self.lateral[1](c3)
        in2 = self.lateral[0](c2)
        out4 = in4 + _upsample(in5, 2)
        out3 = in3 + _upsample(out4, 2)
        out2 = in2 + _upsample(out3, 2)
        p5 = self.smooth[3](in5)
        p4 = self.smooth[2](out4)
        p3 = self.smooth[1](out3)
        p2 = self.smooth[0](out2)
        return torch.cat([_upsample(p5, 8), _upsample(p4, 4), _upsample(p3, 2), p2], dim=1)


class DBHead(nn.Module):
    """Probability branch of the DB head: conv, then two 2x transposed convs back to input size."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        mid = in_channels // 4
        self.conv = ConvBN(in_channels, mid, 3, padding=1, act=nn.ReLU())
        self.up1 = nn.ConvTranspose2d(mid, mid, 2, 2)
        self.bn = nn.BatchNorm2d(mid)
        self.up2 = nn.ConvTranspose2d(mid, 1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.up1(self.conv(x))))
        return torch.sigmoid(self.up2(x))


class DBNet(nn.Module):
    """Image [N, 3, H, W] (H, W multiples of 32) -> text probability map [N, 1, H, W]."""

    def __init__(self, backbone_scale: float = 0.75, neck_channels: int = 96) -> None:
        super().__init__()
        self.backbone = PPLCNetV3(backbone_scale, mode="det")
        self.neck = RSEFPN(self.backbone.out_channels, neck_channels)
        self.head = DBHead(neck_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(image)))
