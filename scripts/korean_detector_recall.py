"""Recall of the text detector on rendered Korean scenes, horizontal lines and vertical columns apart.

    .venv/bin/python -m scripts.korean_detector_recall [--scenes 200] [--seed 7] [--save DIR] [--json OUT]

Scenes come from :class:`training.synth_scenes.KoreanScenes` (every installed Hangul font, posters with
lines and columns over varied backgrounds). A ground-truth line counts as found when a detected box
overlaps it with IoU >= 0.5, each box matched once (the ICDAR 2015 rule, as for the real benchmark set).
Columns are where a detector trained mostly on horizontal text is expected to struggle: a column is a
stack of separate glyphs, which it may find one by one. They are reported apart by content: all Hangul, or
with Latin letters, digits or punctuation stacked in them (narrow glyphs with wide gaps between them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ocrstack.config import detector_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.evaluation.metrics import greedy_match, iou_matrix, to_polygon
from ocrstack.pipeline.pipeline import run_model
from ocrstack.pipeline.stages import boxes_from_detection, prepare_detection
from training.synth_scenes import KoreanScenes

DEFAULT_DETECTOR = (
    Path(__file__).resolve().parents[1] / "model_repository" / "text_detection" / "1" / "model.onnx"
)


def is_hangul(text: str) -> bool:
    """Every character a precomposed Hangul syllable (U+AC00-U+D7A3)."""
    return all("\uac00" <= char <= "\ud7a3" for char in text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: all cores)")
    parser.add_argument("--save", type=Path, help="write the first 20 scenes with their boxes drawn here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    cfg = detector_config()
    engine = OnnxRuntimeEngine(args.detector, intra_op_threads=args.threads)
    scenes = KoreanScenes(args.seed)
    kinds = ("lines", "columns_hangul", "columns_mixed")
    found = dict.fromkeys(kinds, 0)
    total = dict.fromkeys(kinds, 0)
    detections = matched = 0
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    for index in tqdm(range(args.scenes), desc="scenes", unit="scene"):
        image, lines = scenes[index]
        batch, plan = prepare_detection(image, cfg)
        probability = run_model(engine, cfg.input_name, cfg.output_name, batch)
        quads, _ = boxes_from_detection(probability, plan, image.shape, cfg)
        pairs = greedy_match(
            iou_matrix([to_polygon(line.quad) for line in lines], [to_polygon(q) for q in quads])
        )
        hit = {gt for gt, _ in pairs}
        for position, line in enumerate(lines):
            kind = (
                "lines"
                if not line.vertical
                else "columns_hangul"
                if is_hangul(line.text)
                else "columns_mixed"
            )
            total[kind] += 1
            found[kind] += position in hit
        detections += len(quads)
        matched += len(pairs)
        if args.save and index < 20:
            drawn = image.copy()
            cv2.polylines(drawn, [line.quad.astype(np.int32) for line in lines], True, (0, 200, 0), 2)
            cv2.polylines(drawn, [q.astype(np.int32) for q in quads], True, (0, 0, 255), 1)
            cv2.imwrite(str(args.save / f"scene_{index:03d}.png"), drawn)

    columns = total["columns_hangul"] + total["columns_mixed"]
    figures: dict[str, float] = {
        "scenes": args.scenes,
        **{f"count_{kind}": total[kind] for kind in kinds},
        **{f"recall_{kind}": found[kind] / max(total[kind], 1) for kind in kinds},
        "recall_columns": (found["columns_hangul"] + found["columns_mixed"]) / max(columns, 1),
        "recall": sum(found.values()) / max(sum(total.values()), 1),
        "precision": matched / max(detections, 1),
    }
    print(f"{args.scenes} scenes: recall {figures['recall']:.3f}, precision {figures['precision']:.3f}")
    print(f"  {total['lines']} horizontal lines: recall {figures['recall_lines']:.3f}")
    print(f"  {columns} vertical columns: recall {figures['recall_columns']:.3f}")
    print(f"    {total['columns_hangul']} all Hangul: recall {figures['recall_columns_hangul']:.3f}")
    print(f"    {total['columns_mixed']} with other characters: recall {figures['recall_columns_mixed']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
