"""Install the project's own trained checkpoints beside the imported ones.

The Korean recognizers are trained by ``training/`` and their checkpoints are committed under
:data:`TRAINED_DIR` with a ``SHA256SUMS`` file. ``make weights`` copies every one whose digest checks out
into the checkpoint directory the model repository is built from (recording it in that directory's
``SHA256SUMS``), so ``convert repository`` exports them like the imported models. A file that does not
match its recorded digest stops the build. No folder, or an empty one, installs nothing: the stack then
serves the imported models only.

    python -m ocrstack.weights.trained --out build/checkpoints

Shipping a training run's ``model.pt`` (checksum-verified, a model ``convert/`` knows, at most
:data:`MAX_SHIPPED_BYTES`) copies it to ``TRAINED_DIR/<model name>.pt`` and records its digest; commit
both with the model's ``config.pbtxt``:

    python -m ocrstack.weights.trained --ship runs/ko_h/model.pt
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ocrstack.config import RECOGNIZERS
from ocrstack.weights.checkpoint import (
    ChecksumError,
    load_checkpoint,
    read_checksums,
    record_checksum,
    sha256_of,
)

TRAINED_DIR = Path(__file__).resolve().parents[2] / "training" / "weights"
MAX_SHIPPED_BYTES = 20 * 2**20  # a committed checkpoint stays small enough for a plain git repository


def install_trained(source: Path, out_dir: Path) -> list[Path]:
    """Copy the checksum-valid checkpoints listed in ``source/SHA256SUMS`` into ``out_dir``; returns
    the installed paths. Raises ChecksumError on a file that does not match its recorded digest."""
    installed = []
    present = read_checksums(out_dir)
    for name, digest in sorted(read_checksums(source).items()):
        path = source / name
        if not path.exists() or sha256_of(path) != digest:
            raise ChecksumError(f"{path} does not match its digest in {source / 'SHA256SUMS'}")
        target = out_dir / name
        if present.get(name) != digest or not target.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            record_checksum(target)
        installed.append(target)
    return installed


def ship(checkpoint_path: Path, target: Path = TRAINED_DIR) -> Path:
    """Copy a trained checkpoint into ``target`` under its model's name and record its digest there."""
    checkpoint = load_checkpoint(checkpoint_path)  # verified against the run's SHA256SUMS
    if checkpoint.config_name not in RECOGNIZERS:
        raise ValueError(
            f"{checkpoint_path}: {checkpoint.config_name!r} is not a recognizer this project serves"
        )
    checkpoint.record()  # trained as the model its record describes, so convert/ can export it
    size = checkpoint_path.stat().st_size
    if size > MAX_SHIPPED_BYTES:
        raise ValueError(
            f"{checkpoint_path} is {size / 2**20:.1f} MiB; shipped checkpoints stay under "
            f"{MAX_SHIPPED_BYTES / 2**20:.0f} MiB"
        )
    target.mkdir(parents=True, exist_ok=True)
    shipped = target / f"{checkpoint.config_name}.pt"
    shutil.copyfile(checkpoint_path, shipped)
    record_checksum(shipped)
    return shipped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, default=TRAINED_DIR, help="committed trained checkpoints")
    parser.add_argument("--out", type=Path, default=Path("build/checkpoints"), help="checkpoint directory")
    parser.add_argument("--ship", type=Path, nargs="+", help="training runs' model.pt files to ship instead")
    args = parser.parse_args(argv)
    if args.ship:
        for path in args.ship:
            shipped = ship(path, args.source)
            print(f"{shipped} sha256:{sha256_of(shipped)}")
        return
    installed = install_trained(args.source, args.out)
    for path in installed:
        print(f"{path} sha256:{sha256_of(path)}")
    if not installed:
        print(f"no trained checkpoints in {args.source}")


if __name__ == "__main__":
    main()
