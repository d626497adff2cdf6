"""How well crops with wide margins read through ``recognize_crops``' layout step, by how the one row of text
the detector finds in a crop is handled (``ocrstack.pipeline.crop_layout``): when it is read whole, and
with how much margin it is cut out otherwise.

A caller's crop is often a button, a label or a badge: one line of text with background around it on
every side. Held-out Korean lines (``training.evaluate.heldout_set``: fonts never trained on) are shrunk
to small text (12 to 28 pixels high, as on screens and signs) and framed with margins of 0.15 to 1.2 text
heights above and below and 0.1 to 1.5 to the sides (the line's own edge pixels repeated outwards), then
blurred a little and saved as JPEG. Each crop is read in process by the pipeline the server builds for
``lang=ko``, with one row that spans ``FILLED_WIDTH`` of the crop read whole when it also spans
``--filled-height`` of its height (the rule's threshold), else cut out with ``--row-margin`` row heights
around it. The same lines without margins show what the rule does to crops that are already tight.

    .venv/bin/python -m scripts.crop_margins [--count 300] [--seed 0] [--filled-height 0.4 0.8] \
        [--row-margin 0.2 0.1]
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ocrstack.evaluation.metrics import normalize_text
from ocrstack.pipeline import crop_layout
from scripts.benchmark_korean import build_ours
from training.evaluate import heldout_set

TEXT_HEIGHTS = (12, 28)
VERTICAL_MARGINS = (0.15, 1.2)  # in text heights, each side
HORIZONTAL_MARGINS = (0.1, 1.5)


def framed(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tight line image as a small crop with margins around it, a little blurred, through JPEG."""
    height = int(rng.integers(*TEXT_HEIGHTS, endpoint=True))
    width = max(1, round(line.shape[1] * height / line.shape[0]))
    small = cv2.resize(line, (width, height), interpolation=cv2.INTER_AREA)
    top, bottom = (round(height * rng.uniform(*VERTICAL_MARGINS)) for _ in range(2))
    left, right = (round(height * rng.uniform(*HORIZONTAL_MARGINS)) for _ in range(2))
    crop = cv2.copyMakeBorder(small, top, bottom, left, right, cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        crop = cv2.GaussianBlur(crop, (3, 3), rng.uniform(0.3, 0.8))
    quality = int(rng.integers(60, 95))
    _, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def exact_share(read_crop: Callable[[np.ndarray], str], crops: list[np.ndarray], texts: list[str]) -> float:
    pairs = zip(crops, texts, strict=True)
    right = sum(normalize_text(read_crop(crop)) == normalize_text(text) for crop, text in pairs)
    return right / len(crops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--filled-height", type=float, nargs="+", default=[crop_layout.FILLED_HEIGHT])
    parser.add_argument("--row-margin", type=float, nargs="+", default=[crop_layout.ROW_MARGIN])
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    samples = heldout_set(vertical=False, count=args.count)
    texts = [text for _, text in samples]
    tight = [image for image, _ in samples]
    margins = [framed(image, rng) for image in tight]
    system, _ = build_ours(args.repository, "ko", args.threads)
    print(f"{args.count} held-out Korean lines, seed {args.seed}: crops read exactly")
    print(f"  {'filled height':>13}  {'row margin':>10}  {'with margins':>12}  {'tight':>6}")
    for threshold, margin in itertools.product(args.filled_height, args.row_margin):
        crop_layout.FILLED_HEIGHT, crop_layout.ROW_MARGIN = threshold, margin
        print(
            f"  {threshold:>13.2f}  {margin:>10.2f}  {exact_share(system.read_crop, margins, texts):>12.3f}"
            f"  {exact_share(system.read_crop, tight, texts):>6.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
