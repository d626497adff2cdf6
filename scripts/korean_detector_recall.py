"""Recall of the text detector on rendered Korean scenes, horizontal lines and vertical columns apart.

    .venv/bin/python scripts/korean_detector_recall.py [--scenes 200] [--seed 7] [--save DIR] [--json OUT]

Scenes come from :class:`training.synth_scenes.KoreanScenes` (every installed Hangul font, posters with
lines and columns over varied backgrounds). A ground-truth line counts as found when a detected box
overlaps it with IoU >= 0.5, each box matched once (the ICDAR 2015 rule, as for the real benchmark set).
Columns are where a detector trained mostly on horizontal text is expected to struggle: a column of
Hangul is a stack of separate square glyphs, which it may find one by one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocrstack.config import detector_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.evaluation.metrics import greedy_match, iou_matrix, to_polygon
from ocrstack.pipeline.pipeline import run_model
from ocrstack.pipeline.stages import boxes_from_detection, prepare_detection
from training.synth_scenes import KoreanScenes

DEFAULT_DETECTOR = (
    Path(__file__).resolve().parents[1] / "model_repository" / "text_detection" / "1" / "model.onnx"
)


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
    found = {"horizontal": 0, "vertical": 0}
    total = {"horizontal": 0, "vertical": 0}
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
            kind = "vertical" if line.vertical else "horizontal"
            total[kind] += 1
            found[kind] += position in hit
        detections += len(quads)
        matched += len(pairs)
        if args.save and index < 20:
            drawn = image.copy()
            cv2.polylines(drawn, [line.quad.astype(np.int32) for line in lines], True, (0, 200, 0), 2)
            cv2.polylines(drawn, [q.astype(np.int32) for q in quads], True, (0, 0, 255), 1)
            cv2.imwrite(str(args.save / f"scene_{index:03d}.png"), drawn)

    figures = {
        "scenes": args.scenes,
        "lines": total["horizontal"],
        "columns": total["vertical"],
        "recall_horizontal": found["horizontal"] / max(total["horizontal"], 1),
        "recall_vertical": found["vertical"] / max(total["vertical"], 1),
        "recall": sum(found.values()) / max(sum(total.values()), 1),
        "precision": matched / max(detections, 1),
    }
    print(
        f"{args.scenes} scenes, {total['horizontal']} lines and {total['vertical']} columns: recall "
        f"{figures['recall']:.3f} (lines {figures['recall_horizontal']:.3f}, columns "
        f"{figures['recall_vertical']:.3f}), precision {figures['precision']:.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
