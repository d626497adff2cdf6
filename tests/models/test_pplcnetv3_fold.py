"""Folding PP-LCNetV3's learnable affine maps into its convolutions: same outputs, fewer passes."""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from convert.repository import model_path
from ocrstack.models.layers import AffineHardSwish, LearnableAffine
from ocrstack.models.pplcnetv3 import LCNetV3Block, PPLCNetV3, RepConv, fold_learnable_affines


def _randomise_affines(model: nn.Module, seed: int) -> None:
    """Released weights have affine maps far from the identity; so must the test's."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, LearnableAffine):
            module.scale.data = 0.5 + torch.rand(1, generator=generator)
            module.bias.data = torch.randn(1, generator=generator) * 0.5


@pytest.mark.parametrize(("mode", "shape"), [("rec", (2, 3, 48, 96)), ("det", (2, 3, 64, 96))])
def test_folded_backbone_gives_the_same_features(mode: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = PPLCNetV3(scale=0.5, mode=mode).eval()  # type: ignore[arg-type]
    _randomise_affines(model, seed=1)
    folded = copy.deepcopy(model)
    blocks = fold_learnable_affines(folded)
    x = torch.randn(shape)
    with torch.no_grad():
        for expected, got in zip(model(x), folded(x), strict=True):
            assert torch.allclose(expected, got, rtol=1e-4, atol=1e-5), (expected - got).abs().max()
    assert blocks == sum(isinstance(m, LCNetV3Block) for m in model.modules())
    # Left: the map after each pointwise activation (the next conv is padded) and the map after the
    # depthwise activation of squeeze-excite blocks.
    expected_left = sum(
        1 + (isinstance(m.depthwise.act, AffineHardSwish) and not isinstance(m.se, nn.Identity))
        for m in folded.modules()
        if isinstance(m, LCNetV3Block)
    )
    assert sum(isinstance(m, LearnableAffine) for m in folded.modules()) == expected_left


def test_a_padded_conv_refuses_the_affine_map_before_it() -> None:
    layer = RepConv(4, 4, kernel=3, stride=1, groups=1)
    with pytest.raises(ValueError, match="1x1"):
        layer.absorb_input_affine(LearnableAffine(2.0, 1.0))


@pytest.mark.parametrize("name", ["text_detection", "text_recognition_ch"])
def test_exported_graphs_have_no_affine_after_a_conv(exported_repository: Path, name: str) -> None:
    """No affine map's Mul reads a conv output any more; those left follow an activation."""
    graph = onnx.load(str(model_path(exported_repository, name))).graph
    conv_outputs = {node.output[0] for node in graph.node if node.op_type == "Conv"}
    # The exporter names nodes by module path, so ".../affine/Mul" is a LearnableAffine's scaling.
    affine_muls = [node for node in graph.node if node.op_type == "Mul" and "/affine/" in node.name]
    assert affine_muls, "no affine maps found at all: the node naming this test relies on changed"
    after_conv = [node.name for node in affine_muls if set(node.input) & conv_outputs]
    assert not after_conv, after_conv
