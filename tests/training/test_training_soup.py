"""Averaging the weights of training runs of one model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ocrstack.config import KOREAN_RECOGNIZERS
from ocrstack.models import build_model
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint, read_checksums, save_checkpoint
from training.soup import average_checkpoints, main

CONFIG = KOREAN_RECOGNIZERS["horizontal"]
CHARSET = ["가", "나", " "]


def _run(seed: int) -> Checkpoint:
    """A checkpoint of the real model, its weights drawn from ``seed``, after some BatchNorm steps."""
    torch.manual_seed(seed)
    model = build_model(CONFIG.architecture, len(CHARSET) + 1).train()
    for _ in range(seed + 1):
        model(torch.rand(2, 3, 48, 64))
    return Checkpoint(CONFIG.name, CONFIG.architecture, model.state_dict(), CHARSET, f"seed {seed}")


def test_floats_are_averaged_and_the_rest_kept() -> None:
    runs = [_run(0), _run(1), _run(2)]
    soup = average_checkpoints(runs, "test")
    assert soup.state_dict.keys() == runs[0].state_dict.keys()
    for name, tensor in soup.state_dict.items():
        tensors = [run.state_dict[name] for run in runs]
        assert tensor.dtype == tensors[0].dtype
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (tensors[0] + tensors[1] + tensors[2]) / 3)
        elif name.endswith("num_batches_tracked"):
            assert int(tensor) == 3  # the longest run's count
        else:
            assert torch.equal(tensor, tensors[0])  # the jamo table, the same in every run
    assert (soup.config_name, soup.architecture, soup.charset, soup.source) == (
        CONFIG.name,
        CONFIG.architecture,
        CHARSET,
        "test",
    )
    soup.build()  # loads strictly into the model


def test_checkpoints_of_different_models_are_refused() -> None:
    run = _run(0)
    table = next(
        name for name, t in run.state_dict.items() if not (t.is_floating_point() or name.endswith("tracked"))
    )
    changed_table = {**run.state_dict, table: run.state_dict[table] + 1}
    first_weight = next(iter(run.state_dict))
    cases = [
        (replace(run, architecture="another"), "cannot average"),
        (replace(run, config_name="text_recognition_ko_v"), "cannot average"),
        (replace(run, charset=["가", "다", " "]), "charsets"),
        (replace(run, state_dict={k: v for k, v in run.state_dict.items() if k != first_weight}), "tensors"),
        (replace(run, state_dict={**run.state_dict, first_weight: torch.zeros(1)}), "shapes differ"),
        (replace(run, state_dict=changed_table), "not floating point differs"),
    ]
    for other, message in cases:
        with pytest.raises(ValueError, match=message):
            average_checkpoints([run, other])
    with pytest.raises(ValueError, match="two checkpoints or more"):
        average_checkpoints([run])


def test_command_writes_a_verified_checkpoint_that_names_its_sources(tmp_path: Path) -> None:
    paths = [tmp_path / f"run{seed}" / "model.pt" for seed in (0, 1)]
    digests = [save_checkpoint(_run(seed), path) for seed, path in zip((0, 1), paths, strict=True)]
    out = tmp_path / "soup" / "model.pt"
    main([str(out), *map(str, paths)])
    soup = load_checkpoint(out)  # raises unless SHA256SUMS matches
    assert read_checksums(out.parent)["model.pt"]
    assert soup.source == f"average of sha256:{digests[0]}, sha256:{digests[1]}"
    weight = next(name for name, t in soup.state_dict.items() if t.is_floating_point())
    first, second = (load_checkpoint(path).state_dict[weight] for path in paths)
    expected = (first + second) / 2
    torch.testing.assert_close(soup.state_dict[weight], expected)
