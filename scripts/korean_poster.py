"""A rendered Korean poster (horizontal lines and vertical columns) through a running gateway.

    make run                                                   # in one terminal
    .venv/bin/python -m scripts.korean_poster [--url http://127.0.0.1:8080] [--save poster.png]

The poster is drawn with the held-out Hangul fonts (:func:`training.evaluate.split_fonts`), which the
Korean recognizers never saw in training, and sent to ``/translate_image`` with ``source_lang=ko``. The
script prints the response (without the re-rendered image) and, for every line on the poster, the line
the gateway returned at the same place (box IoU >= 0.5, each matched once), its orientation and whether
its text is exact. The exit status is 0 only when every line is read exactly.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import cv2
import httpx
import numpy as np

from ocrstack.evaluation.metrics import greedy_match, iou_matrix, to_polygon
from ocrstack.synth.render import LineSpec, render_page
from training.evaluate import split_fonts

# (text, vertical, height in pixels across the reading direction, RGB colour)
POSTER_LINES = (
    ("서울 국제 도서전", False, 56, (150, 30, 40)),
    ("2027년 6월 18일", False, 40, (30, 30, 30)),
    ("코엑스 A홀", False, 40, (30, 30, 30)),
    ("입장료 10,000원", False, 36, (20, 60, 90)),
    # Columns as signs set them, without blank cells: the detector finds a column with a blank cell
    # word by word, as it does a line with a wide gap.
    ("봄맞이대축제", True, 48, (20, 90, 20)),
    ("무료입장", True, 44, (30, 30, 30)),
)
POSTER_SIZE = (820, 560)
POSTER_BACKGROUND = (250, 245, 235)  # a warm off-white


def render_poster() -> tuple[np.ndarray, list[tuple[np.ndarray, str, str]]]:
    """The poster (BGR) and its lines as ``(quad, text, orientation)``; held-out faces in turn."""
    _, heldout = split_fonts()
    faces = [heldout[i % len(heldout)] for i in range(len(POSTER_LINES))]
    specs = [
        LineSpec(text, face.path, height=height, color=rgb, vertical=vertical, font_index=face.index)
        for face, (text, vertical, height, rgb) in zip(faces, POSTER_LINES, strict=True)
    ]
    image, truth = render_page(specs, size=POSTER_SIZE, background=POSTER_BACKGROUND, seed=3)
    lines = [
        (quad, text, "vertical" if spec.vertical else "horizontal")
        for (quad, text), spec in zip(truth, specs, strict=True)
    ]
    return image, lines


def compare(
    truth: list[tuple[np.ndarray, str, str]], returned: list[dict]
) -> list[tuple[str, str, str | None, str | None]]:
    """Per poster line: (expected text, expected orientation, returned text, returned orientation)."""
    ious = iou_matrix(
        [to_polygon(quad) for quad, _, _ in truth], [to_polygon(np.array(line["box"])) for line in returned]
    )
    matched = dict(greedy_match(ious))
    rows: list[tuple[str, str, str | None, str | None]] = []
    for i, (_, text, orientation) in enumerate(truth):
        if i in matched:
            line = returned[matched[i]]
            rows.append((text, orientation, line["text"], line["orientation"]))
        else:
            rows.append((text, orientation, None, None))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway")
    parser.add_argument("--target-lang", default="en")
    parser.add_argument("--save", type=Path, help="write the poster here (PNG)")
    args = parser.parse_args()

    image, truth = render_poster()
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    if args.save:
        args.save.write_bytes(png.tobytes())
    body = {
        "image": base64.b64encode(png.tobytes()).decode(),
        "source_lang": "ko",
        "target_lang": args.target_lang,
    }
    response = httpx.post(f"{args.url}/translate_image", json=body, timeout=120)
    response.raise_for_status()
    result = response.json()
    result.pop("rendered_image", None)
    print(json.dumps(result, ensure_ascii=False, indent=1))

    rows = compare(truth, result["lines"])
    print("\n| poster line | orientation | read | returned as | exact |\n|---|---|---|---|---|")
    for text, orientation, read, read_orientation in rows:
        verdict = "yes" if read == text else "no"
        print(f"| {text} | {orientation} | {read or '(not found)'} | {read_orientation or ''} | {verdict} |")
    exact = sum(read == text for text, _, read, _ in rows)
    print(f"\n{exact}/{len(rows)} poster lines read exactly; {len(result['lines'])} lines returned")
    return 0 if exact == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
