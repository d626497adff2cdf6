"""Checkpoint files: a state_dict with the config record's name, the architecture and the charset.

Every checkpoint directory carries a ``SHA256SUMS`` file (the format ``sha256sum -c`` reads), and
loading verifies the file against it, so a truncated or swapped weight file fails loudly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ocrstack.config import ModelConfig, model_config
from ocrstack.models import build_model

CHECKSUM_FILE = "SHA256SUMS"
FORMAT_VERSION = 1


class ChecksumError(RuntimeError):
    pass


@dataclass
class Checkpoint:
    config_name: str
    architecture: str
    state_dict: dict[str, torch.Tensor]
    charset: list[str] | None = None  # labels of classes 1..C-1 (class 0 is the CTC blank)
    source: str = ""  # where the weights came from, for the exported model's metadata

    @property
    def num_classes(self) -> int | None:
        return None if self.charset is None else len(self.charset) + 1

    def record(self) -> ModelConfig:
        """The config record these weights serve. Raises ValueError when the record now names another
        architecture: the weights were trained for a model it no longer describes (retrain them)."""
        config = model_config(self.config_name)
        if config.architecture != self.architecture:
            raise ValueError(
                f"{self.config_name} weights were trained as {self.architecture}; its record now says "
                f"{config.architecture}"
            )
        return config

    def build(self) -> nn.Module:
        """The model in eval mode with these weights loaded (strictly: every key must match)."""
        model = build_model(self.architecture, self.num_classes)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(directory: Path) -> dict[str, str]:
    sums = directory / CHECKSUM_FILE
    if not sums.exists():
        return {}
    entries = (line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip())
    return {name.strip().lstrip("*"): digest for digest, name in entries}


def record_checksum(path: Path) -> str:
    """Record the file's SHA-256 in its folder's ``SHA256SUMS``; returns the digest."""
    digest = sha256_of(path)
    sums = read_checksums(path.parent)
    sums[path.name] = digest
    lines = [f"{d}  {name}\n" for name, d in sorted(sums.items())]
    (path.parent / CHECKSUM_FILE).write_text("".join(lines))
    return digest


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> str:
    """Write the checkpoint and record its SHA-256 beside it; returns the digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "config_name": checkpoint.config_name,
        "architecture": checkpoint.architecture,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in checkpoint.state_dict.items()},
        "charset": checkpoint.charset,
        "source": checkpoint.source,
    }
    torch.save(payload, path)
    return record_checksum(path)


def load_checkpoint(path: Path, verify: bool = True) -> Checkpoint:
    """Load a checkpoint, checking it against ``SHA256SUMS`` when ``verify`` (the default)."""
    if verify:
        expected = read_checksums(path.parent).get(path.name)
        if expected is None:
            raise ChecksumError(f"{path} has no entry in {path.parent / CHECKSUM_FILE}")
        actual = sha256_of(path)
        if actual != expected:
            raise ChecksumError(f"{path}: SHA-256 {actual} does not match the recorded {expected}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format {payload.get('format_version')!r}")
    return Checkpoint(
        config_name=payload["config_name"],
        architecture=payload["architecture"],
        state_dict=payload["state_dict"],
        charset=payload["charset"],
        source=payload["source"],
    )
