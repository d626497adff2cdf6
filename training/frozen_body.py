"""The frozen first stages of an imported recognizer body, run in ONNX Runtime while the rest trains.

Fine-tuning the PP-OCR body on a CPU is slow in PyTorch: its early stages work at full resolution, and
their learnable affine maps and activations are memory-bound passes that eager PyTorch does one by one
(measured on the 2-core reference machine: about 80 ms per 48 x 192 crop for the backbone's forward
pass alone, against about 10 ms for the whole model in ONNX Runtime). Those stages learned generic
stroke features from real photographs; they are the part worth keeping as it is. So training exports
them once, folded, to ONNX and runs them without gradients in ONNX Runtime; the later, low-resolution
stages, the neck and the head train in PyTorch on what they produce. On a GPU the prefix runs in
PyTorch under ``no_grad`` instead.
"""

from __future__ import annotations

import copy
from pathlib import Path

import onnxruntime as ort
import torch
from torch import nn

from ocrstack.models.korean_ppocr_rec import KoreanPPOCRRecognizer
from ocrstack.models.pplcnetv3 import fold_learnable_affines


class FrozenPrefix:
    """``images [N, 3, 48, W]`` -> the output of backbone stage ``stages - 1``, without gradients."""

    def __init__(
        self, model: KoreanPPOCRRecognizer, stages: int, folder: Path, device: torch.device, threads: int = 1
    ) -> None:
        if not 1 <= stages <= len(model.backbone.stages):
            raise ValueError(f"freeze 1 to {len(model.backbone.stages)} stages, not {stages}")
        self.stages, self.device = stages, device
        for parameter in model.frozen_prefix(stages).parameters():
            parameter.requires_grad_(False)
        # A folded copy: the same function with its affine maps inside the convolutions.
        prefix = copy.deepcopy(model.frozen_prefix(stages)).cpu().eval()
        fold_learnable_affines(prefix)
        self.module = prefix.to(device)
        self.session: ort.InferenceSession | None = None
        if device.type == "cpu":
            path = folder / f"frozen_prefix_{stages}.onnx"
            torch.onnx.export(
                prefix,
                (torch.rand(1, 3, 48, 160),),
                str(path),
                input_names=["image"],
                output_names=["features"],
                dynamic_axes={"image": {0: "batch", 3: "width"}, "features": {0: "batch", 3: "width"}},
                opset_version=17,
                dynamo=False,
            )
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.session is None:
            with torch.no_grad():
                return self.module(images.to(self.device))
        (features,) = self.session.run(None, {"image": images.contiguous().numpy()})
        return torch.from_numpy(features)


class PrefixedRecognizer(nn.Module):
    """``model`` read through a :class:`FrozenPrefix`: the probabilities ``model(x)`` gives, at the
    prefix's cost in ONNX Runtime; what validation during such a run reads with."""

    def __init__(self, model: KoreanPPOCRRecognizer, frozen: FrozenPrefix) -> None:
        super().__init__()
        self.model, self.frozen = model, frozen

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.log_probs_from(self.frozen(images), self.frozen.stages).exp()
