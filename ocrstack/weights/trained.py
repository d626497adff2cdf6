"""Install the project's own trained checkpoints beside the imported ones.

The Korean recognizers are trained by ``training/`` and their checkpoints are committed under
:data:`TRAINED_DIR` with a ``SHA256SUMS`` file. ``make weights`` copies every one whose digest checks out
into the checkpoint directory the model repository is built from (recording it in that directory's
``SHA256SUMS``), so ``convert repository`` exports them like the imported models. A file that does not
match its recorded digest stops the build. No folder, or an empty one, installs nothing: the stack then
serves the imported models only.

    python -m ocrstack.weights.trained --out build/checkpoints
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ocrstack.weights.checkpoint import ChecksumError, read_checksums, record_checksum, sha256_of

TRAINED_DIR = Path(__file__).resolve().parents[2] / "training" / "weights"


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", type=Path, default=TRAINED_DIR, help="committed trained checkpoints")
    parser.add_argument("--out", type=Path, default=Path("build/checkpoints"), help="checkpoint directory")
    args = parser.parse_args(argv)
    installed = install_trained(args.source, args.out)
    for path in installed:
        print(f"{path} sha256:{sha256_of(path)}")
    if not installed:
        print(f"no trained checkpoints in {args.source}")


if __name__ == "__main__":
    main()
