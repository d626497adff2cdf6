"""Parity figures: our PyTorch modules against the original PP-OCRv4 ONNX files, our exported ONNX
against PyTorch, and the FP16 variant against FP32, on rendered images and the real set.

    .venv/bin/python -m scripts.parity_report [--repository model_repository]

The recognizer is compared on rendered lines, the real word crops and every line the detector finds
on the real pages and scenes.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from convert import parity_inputs
from convert.fp16 import to_fp16
from convert.parity import compare
from convert.repository import model_path
from ocrstack.config import detector_config, recognizer_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.pipeline import ctc_greedy_decode
from ocrstack.pipeline.pipeline import OcrPipeline
from ocrstack.weights.checkpoint import load_checkpoint
from ocrstack.weights.rapidocr_import import rapidocr_models_dir

DET, REC = "text_detection", "text_recognition_ch"


def texts(probs: np.ndarray, charset: list[str]) -> list[str]:
    return [text for text, _ in ctc_greedy_decode(probs, charset)]


def run_all(runner, batches: list[parity_inputs.NamedBatch], desc: str) -> list[np.ndarray]:
    return [runner(b.batch) for b in tqdm(batches, desc=desc, unit="input", leave=False)]


def report(title: str, reference: list[np.ndarray], candidate: list[np.ndarray], charset=None) -> None:
    diffs = [
        compare(r, c, charset is not None).max_abs_diff for r, c in zip(reference, candidate, strict=True)
    ]
    line = f"{title:<58} inputs {len(diffs):>4}   max |diff| {max(diffs):.2e}"
    if charset is not None:
        same = sum(texts(r, charset) == texts(c, charset) for r, c in zip(reference, candidate, strict=True))
        line += f"   identical text {same}/{len(diffs)} ({same / len(diffs):.1%})"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--checkpoints", type=Path, default=Path("build/checkpoints"))
    args = parser.parse_args()

    det_ck, rec_ck = (load_checkpoint(args.checkpoints / f"{n}.pt") for n in (DET, REC))
    det_model, rec_model = det_ck.build(), rec_ck.build()
    original = rapidocr_models_dir()
    det_onnx, rec_onnx = model_path(args.repository, DET), model_path(args.repository, REC)

    pipeline = OcrPipeline.from_onnx(
        det_onnx, {"horizontal": rec_onnx}, detector_config(), {"horizontal": recognizer_config(REC)}
    )
    det_batches = parity_inputs.detector_batches()
    crop_batches = parity_inputs.recognizer_batches()  # rendered lines and the real crop images
    rec_batches = crop_batches + parity_inputs.recognizer_batches_of(parity_inputs.detected_crops(pipeline))
    # The recognizer's figures are given for the crops alone and for every input with the lines
    # detected on the real pages and scenes added.
    subsets: dict[str, Sequence[int]] = {
        "crops": range(len(crop_batches)),
        "crops + detected lines": range(len(rec_batches)),
    }
    print(f"real data: {'yes' if parity_inputs.has_real_data() else 'NO (rendered inputs only)'}")

    def torch_runner(model):
        return lambda b: model(torch.from_numpy(b)).detach().numpy()

    def report_subsets(title: str, reference: list[np.ndarray], candidate: list[np.ndarray]) -> None:
        for subset, indices in subsets.items():
            picked = list(indices)
            report(
                f"{title} [{subset}]",
                [reference[i] for i in picked],
                [candidate[i] for i in picked],
                rec_ck.charset,
            )

    with torch.no_grad():
        det_torch = run_all(torch_runner(det_model), det_batches, "detector, PyTorch")
        rec_torch = run_all(torch_runner(rec_model), rec_batches, "recognizer, PyTorch")
    for label, det_path, rec_path in [
        ("original", original / "ch_PP-OCRv4_det_infer.onnx", original / "ch_PP-OCRv4_rec_infer.onnx"),
        ("exported", det_onnx, rec_onnx),
    ]:
        det = run_all(OnnxRuntimeEngine(det_path).run_single, det_batches, f"detector, {label}")
        rec = run_all(OnnxRuntimeEngine(rec_path).run_single, rec_batches, f"recognizer, {label}")
        report(f"detector: PyTorch vs {label}", det, det_torch)
        report_subsets(f"recognizer: PyTorch vs {label}", rec, rec_torch)

    with tempfile.TemporaryDirectory() as tmp:
        half = OnnxRuntimeEngine(to_fp16(rec_onnx, Path(tmp) / "rec_fp16.onnx"))
        rec_fp32 = run_all(OnnxRuntimeEngine(rec_onnx).run_single, rec_batches, "recognizer, fp32")
        rec_fp16 = run_all(half.run_single, rec_batches, "recognizer, fp16")
    report_subsets("recognizer: FP32 vs FP16", rec_fp32, rec_fp16)
    # What a user sees: the lines the pipeline keeps (FP32 confidence at or above the recognizer's
    # min_score); the rest are dropped either way.
    min_score = recognizer_config(REC).min_score
    charset = rec_ck.charset
    if charset is None:
        raise ValueError(f"{REC}'s checkpoint has no charset")
    subsets = {
        f"score>={min_score}": [
            i for i, probs in enumerate(rec_fp32) if ctc_greedy_decode(probs, charset)[0][1] >= min_score
        ]
    }
    report_subsets("recognizer: FP32 vs FP16", rec_fp32, rec_fp16)


if __name__ == "__main__":
    main()
