"""Character F1 of the real pages read as sent, at working sides 2000 and 4000, and blown up 3x (read
whole and at the working side): what bounding an image's size costs recognition (docs/memory.md).

    python -m scripts.working_size [--threads 1]

In process (``OcrPipeline`` on ``model_repository``'s ONNX files, the recognizers the server chooses for
each page's language); the pages are read from ``../shared/testdata/real`` and ``real_ko`` in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ocrstack.evaluation.dataset import by_kind, load_samples
from ocrstack.evaluation.metrics import Counts, character_counts, total
from ocrstack.pipeline.image_io import decode_image, shrink_to
from scripts.benchmark_korean import DEFAULT_REPOSITORY, build_ours

ROOTS = [Path(__file__).resolve().parents[2] / "shared/testdata" / name for name in ("real", "real_ko")]
MAX_PIXELS = 40_000_000  # the gateway's limit: a blown-up page over it is left out


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    out = {"as sent": image, "side 2000": shrink_to(image, 2000), "side 4000": shrink_to(image, 4000)}
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    if big.shape[0] * big.shape[1] <= MAX_PIXELS:
        out.update({"3x whole": big, "3x at side 4000": shrink_to(big, 4000)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    systems = {}
    counts: dict[tuple[str, str], list[Counts]] = {}
    for root in ROOTS:
        for sample in by_kind(load_samples(root), "page"):
            language = "ko" if sample.lang == "ko" else "en"
            if language not in systems:
                systems[language] = build_ours(DEFAULT_REPOSITORY, language, args.threads)[0]
            reference = "\n".join(sample.lines)
            for name, image in variants(decode_image(sample.path.read_bytes())).items():
                read = "\n".join(text for _, text in systems[language].read_page(image))
                counts.setdefault((root.name, name), []).append(character_counts(read, reference))
            print(f"  {sample.path.name}", flush=True)
    for (root_name, name), page_counts in sorted(counts.items()):
        summed = total(page_counts)
        print(
            f"{root_name:8} {name:16} pages {len(page_counts):2}  char P {summed.precision:.3f}"
            f" R {summed.recall:.3f} F1 {summed.hmean:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
