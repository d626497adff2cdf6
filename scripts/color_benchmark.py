"""Accuracy and speed of line colour extraction (``gateway.colors``) on the rendered cases of
``devtools.color_cases``, the same pages the tests check.

    .venv/bin/python -m scripts.color_benchmark [--repeats 50]

Prints, per case, the worst per-channel error of the text and background colours and the median time to
extract one line's colours; then the worst error over all cases and the median time per line over all
lines. Exit status 1 when the worst error exceeds the tolerance the tests use.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from devtools.color_cases import TOLERANCE, ColorCase, channel_errors, color_cases
from gateway.colors import line_colors


def line_seconds(case: ColorCase, repeats: int) -> list[float]:
    """Median seconds to extract each line's colours alone, over ``repeats`` calls after one warm-up."""
    medians = []
    for quad in case.quads:
        quads = quad[None]
        line_colors(case.image, quads)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            line_colors(case.image, quads)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per line (default 50)")
    args = parser.parse_args(argv)

    header = f"{'case':<32} {'lines':>5} {'text err':>8} {'bg err':>6} {'ms/line':>8}"
    print(header)
    print("-" * len(header))
    worst, all_seconds = np.zeros(2, dtype=int), []
    for case in color_cases():
        errors = channel_errors(line_colors(case.image, case.quads), case.truth)
        seconds = line_seconds(case, args.repeats)
        case_worst = errors.max(axis=0) if len(errors) else np.zeros(2, dtype=int)
        worst = np.maximum(worst, case_worst)
        all_seconds += seconds
        median_ms = statistics.median(seconds) * 1e3
        print(f"{case.name:<32} {len(errors):>5} {case_worst[0]:>8} {case_worst[1]:>6} {median_ms:>8.3f}")
    print("-" * len(header))
    total_ms = statistics.median(all_seconds) * 1e3
    print(f"{'all':<32} {len(all_seconds):>5} {worst[0]:>8} {worst[1]:>6} {total_ms:>8.3f}")
    print(f"worst per-channel error {worst.max()} (tolerance {TOLERANCE}); median {total_ms:.3f} ms per line")
    return 1 if worst.max() > TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
