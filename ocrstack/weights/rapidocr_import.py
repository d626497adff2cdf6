"""Import the PP-OCRv4 weights carried by the ``rapidocr_onnxruntime`` wheel into our PyTorch modules.

These are the served models: their checkpoints go where ``convert repository`` exports from. The
mapping itself (graph parameters against module state, by order and shape) is :mod:`.onnx_import`'s.

    python -m ocrstack.weights.rapidocr_import --out build/checkpoints
"""

from __future__ import annotations

from pathlib import Path

from ocrstack.weights import onnx_import

PACKAGE = "rapidocr_onnxruntime"


def rapidocr_models_dir() -> Path:
    """The ``models`` folder of the installed rapidocr_onnxruntime wheel (not imported, only located)."""
    return onnx_import.package_models_dir(PACKAGE)


def importable_configs() -> list[str]:
    return onnx_import.importable_configs(PACKAGE)


def import_all(out_dir: Path, models_dir: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Import every model the wheel carries; existing, checksum-valid files are kept."""
    return onnx_import.import_all(PACKAGE, out_dir, models_dir, force)


def main(argv: list[str] | None = None) -> None:
    onnx_import.main_for(PACKAGE, Path("build/checkpoints"), argv, __doc__)


if __name__ == "__main__":
    main()
