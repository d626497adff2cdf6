"""Text-line recognizer with the PP-OCRv4 mobile architecture: PP-LCNetV3, SVTR neck, CTC head."""

from __future__ import annotations

import torch
from torch import nn

from ocrstack.models.layers import ConvBN
from ocrstack.models.pplcnetv3 import PPLCNetV3


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attention = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attention @ v).transpose(1, 2).reshape(n, length, dim))


class SVTRBlock(nn.Module):
    """Pre-norm transformer block with global attention and a SiLU MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attention = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SVTREncoder(nn.Module):
    """Local convs, a few global-attention blocks over the sequence, then a shortcut fusion."""

    def __init__(self, in_channels: int, dims: int = 120, depth: int = 2, num_heads: int = 8) -> None:
        super().__init__()
        reduced = in_channels // 8
        self.conv1 = ConvBN(in_channels, reduced, (1, 3), padding=(0, 1), act=nn.SiLU())
        self.conv2 = ConvBN(reduced, dims, 1, act=nn.SiLU())
        self.blocks = nn.Sequential(*(SVTRBlock(dims, num_heads, mlp_ratio=2.0) for _ in range(depth)))
        self.norm = nn.LayerNorm(dims, eps=1e-6)
        self.conv3 = ConvBN(dims, in_channels, 1, act=nn.SiLU())
        self.conv4 = ConvBN(2 * in_channels, reduced, (1, 3), padding=(0, 1), act=nn.SiLU())
        self.conv5 = ConvBN(reduced, dims, 1, act=nn.SiLU())
        self.out_channels = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        z = self.conv2(self.conv1(x))
        n, c, h, w = z.shape
        z = self.norm(self.blocks(z.flatten(2).transpose(1, 2)))
        z = z.reshape(n, h, w, c).permute(0, 3, 1, 2)
        z = torch.cat([shortcut, self.conv3(z)], dim=1)
        return self.conv5(self.conv4(z))


class PPOCRv4Recognizer(nn.Module):
    """Crop [N, 3, 48, W] -> per-column class probabilities [N, W / 8, num_classes] (class 0: blank)."""

    def __init__(self, num_classes: int, backbone_scale: float = 0.95) -> None:
        super().__init__()
        self.backbone = PPLCNetV3(backbone_scale, mode="rec")
        self.encoder = SVTREncoder(self.backbone.out_channels[0])
        self.classifier = nn.Linear(self.encoder.out_channels, num_classes)

    def sequence(self, image: torch.Tensor) -> torch.Tensor:
        """Per-column features ``[N, W / 8, encoder.out_channels]``: what the classifier reads."""
        (features,) = self.backbone(image)
        return self.encoder(features).squeeze(2).transpose(1, 2)

    def sequence_from(self, features: torch.Tensor, first_stage: int) -> torch.Tensor:
        """:meth:`sequence` from the output of the backbone's stage ``first_stage - 1`` (0: the stem)."""
        (pooled,) = self.backbone.forward_from(features, first_stage)
        return self.encoder(pooled).squeeze(2).transpose(1, 2)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.sequence(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.logits(image).softmax(dim=-1)
