"""Export a checkpoint to ONNX: named tensors, dynamic axes, and the config record in the metadata."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ocrstack.config import DetectorConfig, ModelConfig, RecognizerConfig
from ocrstack.models.pplcnetv3 import fold_learnable_affines
from ocrstack.pipeline.ctc import CHARSET_KEY, charset_to_metadata
from ocrstack.weights.checkpoint import Checkpoint

OPSET = 17


def example_input(config: ModelConfig, batch: int = 2, grow: int = 0) -> torch.Tensor:
    """A traceable input. Batch 2 by default, so the exporter cannot specialise the batch axis to 1;
    ``grow`` adds pixels along the dynamic spatial axes, to exercise them."""
    if isinstance(config, DetectorConfig):
        return torch.rand(batch, 3, 96 + grow, 128 + grow)
    # Every recognizer reads rows; the pipeline turns vertical crops on their side first.
    return torch.rand(batch, 3, config.height, config.width_buckets[0] + grow)


class BestPathOutputs(nn.Module):
    """A recognizer whose graph also takes the best path: (probabilities, classes, class scores).

    Servers ask for the last two only, so a crop's answer is T numbers instead of T x C.
    """

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        probabilities = self.recognizer(image)
        scores, classes = probabilities.max(dim=-1)
        return probabilities, classes, scores


def output_names(config: ModelConfig) -> list[str]:
    if isinstance(config, DetectorConfig):
        return [config.output_name]
    return [config.output_name, config.classes_output, config.class_scores_output]


def dynamic_axes(config: ModelConfig) -> dict[str, dict[int, str]]:
    if isinstance(config, DetectorConfig):
        spatial = {0: "batch", 2: "height", 3: "width"}
        return {config.input_name: spatial, config.output_name: spatial}
    sequence = {0: "batch", 1: "sequence"}
    return {config.input_name: {0: "batch", 3: "length"}, **dict.fromkeys(output_names(config), sequence)}


def metadata(checkpoint: Checkpoint, config: ModelConfig) -> dict[str, str]:
    """What a runtime needs to feed and decode the model without the Python config records."""
    norm = config.normalization
    entries = {
        "model_name": config.name,
        "architecture": config.architecture,
        "source": checkpoint.source,
        "mean": ",".join(map(str, norm.mean)),
        "std": ",".join(map(str, norm.std)),
        "scale": str(norm.scale),
        "channel_order": norm.channel_order,
    }
    if checkpoint.charset is not None:
        entries[CHARSET_KEY] = charset_to_metadata(checkpoint.charset)
    if isinstance(config, RecognizerConfig):
        entries.update(height=str(config.height), orientation=config.orientation)
    return entries


def export_onnx(checkpoint: Checkpoint, out_path: Path, opset: int = OPSET) -> Path:
    """Write ``out_path`` and check it with ``onnx.checker``; returns the path."""
    config = checkpoint.record()
    network = checkpoint.build()
    fold_learnable_affines(network)  # exact up to rounding; check_parity compares with the unfolded model
    model = network if isinstance(config, DetectorConfig) else BestPathOutputs(network)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript-based exporter keeps symbolic batch and spatial axes for these models; the
    # dynamo exporter specialises the batch axis of the recognizer's attention. Its deprecation
    # warning is expected, so it is not shown; nor are the tracer's notes on the LSTM of the Korean
    # recognizers (its size checks become constants, and a blanket caution about batch sizes other than
    # 1): the parity checks that follow every export run the file at batch sizes 1 and 3.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size other than 1")
        torch.onnx.export(
            model,
            (example_input(config),),
            str(out_path),
            input_names=[config.input_name],
            output_names=output_names(config),
            dynamic_axes=dynamic_axes(config),
            opset_version=opset,
            dynamo=False,
        )
    graph = onnx.load(str(out_path))
    onnx.helper.set_model_props(graph, metadata(checkpoint, config))
    graph.producer_name = "ocrstack.convert"
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(out_path))
    return out_path
