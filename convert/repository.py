"""Fill the Triton model repository with ONNX files exported from the checkpoints.

Each model lands in ``<repository>/<name>/1/model.onnx``. A file is re-exported only when the
checkpoint it came from changed (its SHA-256 is kept in the ONNX metadata), so a second
``make run`` is quick. Every export passes the parity check before it is put in place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from convert.export import example_input, export_onnx
from convert.parity import check_parity
from ocrstack.config import model_config
from ocrstack.weights.checkpoint import load_checkpoint, read_checksums

CHECKPOINT_KEY = "checkpoint_sha256"
# Raised whenever the export itself changes what it writes, so existing files are rebuilt.
EXPORT_VERSION = "3"
EXPORT_VERSION_KEY = "export_version"


def model_path(repository: Path, name: str) -> Path:
    return repository / name / "1" / "model.onnx"


def exported_from(path: Path) -> str | None:
    """The checkpoint digest an exported file records, or None when there is no usable, current file."""
    if not path.exists():
        return None
    try:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # a truncated or foreign file is simply rebuilt
        return None
    return props.get(CHECKPOINT_KEY) if props.get(EXPORT_VERSION_KEY) == EXPORT_VERSION else None


def parity_batches(name: str, seed: int = 0) -> list[np.ndarray]:
    """Two random batches of different shapes, so the dynamic axes are exercised too."""
    rng = np.random.default_rng(seed)
    config = model_config(name)
    shapes = [example_input(config, batch=1).shape, example_input(config, batch=3, grow=32).shape]
    return [rng.standard_normal(tuple(shape)).astype(np.float32) for shape in shapes]


def export_checkpoint(checkpoint_path: Path, out_path: Path, digest: str) -> None:
    checkpoint = load_checkpoint(checkpoint_path)
    staging = out_path.with_suffix(".onnx.partial")
    export_onnx(checkpoint, staging)
    graph = onnx.load(str(staging))
    graph.metadata_props.add(key=CHECKPOINT_KEY, value=digest)
    graph.metadata_props.add(key=EXPORT_VERSION_KEY, value=EXPORT_VERSION)
    onnx.save(graph, str(staging))
    check_parity(checkpoint, staging, parity_batches(checkpoint.config_name))
    staging.replace(out_path)


def build_repository(checkpoints: Path, repository: Path, force: bool = False) -> list[Path]:
    """Export every checkpoint in ``checkpoints`` that is missing or stale in ``repository``."""
    digests = read_checksums(checkpoints)
    if not digests:
        raise FileNotFoundError(f"no checkpoints recorded in {checkpoints} (run the weight import first)")
    written = []
    for file_name, digest in tqdm(sorted(digests.items()), desc="exporting to ONNX", unit="model"):
        name = Path(file_name).stem
        if not (repository / name / "config.pbtxt").exists():
            # Triton would load the file with a guessed config, or not at all; a model's config is
            # committed with its weights.
            raise FileNotFoundError(f"{checkpoints / file_name} has no {repository / name / 'config.pbtxt'}")
        out_path = model_path(repository, name)
        if force or exported_from(out_path) != digest:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            export_checkpoint(checkpoints / file_name, out_path, digest)
        written.append(out_path)
    return written
