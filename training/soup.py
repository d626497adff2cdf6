"""Average the weights of several training runs of one model into one checkpoint (a weight "soup").

Runs started from the same weights (``--init``) with different seeds end in the same basin of the loss,
close enough that the mean of their weights is itself a good model, and usually a better one than each
run: their errors differ where their weights differ, and averaging cancels part of them. It costs nothing
when serving: the result is one model of the same architecture. Averaging runs that did not share their
starting weights gives nonsense, so this module checks what it can (model, architecture, charset, the
same tensors) and the caller owns the rest.

BatchNorm running statistics are averaged like the weights; with runs this close they describe the
averaged model well enough (the held-out figures in the README are measured on the result).

    python -m training.soup runs/soup/model.pt runs/ko_h7/model.pt runs/ko_h8/model.pt

The result is an export-ready checkpoint with its ``SHA256SUMS``, like a training run's ``model.pt``; its
``source`` names the digests it was averaged from.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint, read_checksums, save_checkpoint

# A BatchNorm layer's step counter: used only with ``momentum=None``, which no model here sets.
STEP_COUNTER_SUFFIX = "num_batches_tracked"


def average_checkpoints(checkpoints: Sequence[Checkpoint], source: str = "") -> Checkpoint:
    """The element-wise mean of the checkpoints' floating-point tensors (computed in float64); every
    other tensor must be equal in all of them, except BatchNorm step counters, which take the largest.

    Raises ``ValueError`` when the checkpoints are not of one model: another config name, architecture
    or charset, or other tensor names or shapes."""
    if len(checkpoints) < 2:
        raise ValueError(f"averaging needs two checkpoints or more, got {len(checkpoints)}")
    first = checkpoints[0]
    for other in checkpoints[1:]:
        if (other.config_name, other.architecture) != (first.config_name, first.architecture):
            raise ValueError(
                f"cannot average {first.config_name} ({first.architecture}) with "
                f"{other.config_name} ({other.architecture})"
            )
        if other.charset != first.charset:
            raise ValueError(f"cannot average {first.config_name} checkpoints with different charsets")
        if other.state_dict.keys() != first.state_dict.keys():
            raise ValueError(f"cannot average {first.config_name} checkpoints with different tensors")
    state: dict[str, torch.Tensor] = {}
    for name, tensor in first.state_dict.items():
        tensors = [checkpoint.state_dict[name] for checkpoint in checkpoints]
        if any(t.shape != tensor.shape for t in tensors):
            raise ValueError(f"{name}: shapes differ ({[tuple(t.shape) for t in tensors]})")
        if tensor.is_floating_point():
            state[name] = torch.stack([t.double() for t in tensors]).mean(dim=0).to(tensor.dtype)
        elif name.endswith(STEP_COUNTER_SUFFIX):
            state[name] = torch.stack(tensors).max(dim=0).values
        elif all(torch.equal(t, tensor) for t in tensors):
            state[name] = tensor.clone()
        else:
            raise ValueError(f"{name}: a tensor that is not floating point differs between checkpoints")
    return Checkpoint(first.config_name, first.architecture, state, first.charset, source)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Average the weights of training runs of one model")
    parser.add_argument("out", type=Path, help="the averaged checkpoint to write (model.pt)")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checksum-verified model.pt files")
    args = parser.parse_args(argv)
    checkpoints = [load_checkpoint(path) for path in args.checkpoints]
    digests = [read_checksums(path.parent)[path.name] for path in args.checkpoints]
    source = "average of " + ", ".join(f"sha256:{digest}" for digest in digests)
    digest = save_checkpoint(average_checkpoints(checkpoints, source), args.out)
    print(f"{args.out}: {checkpoints[0].config_name}, the average of {len(checkpoints)}, sha256:{digest}")


if __name__ == "__main__":
    main()
