"""Accuracy and speed of our in-process pipeline against the peer (RapidOCR 1.4.4, default settings).

Both read the real benchmark set (``../shared/testdata/real``, see its README): ICDAR 2015 scenes and
pages through the full pipeline, crops through recognition only. Speed follows the measurement protocol
in DESIGN.md: same images, one run, ours and the peer alternating per image after a warm-up pass, medians
and their ratio. Exit status 1 when ours is more than ``--tolerance`` below the peer on a gated figure.

    .venv/bin/python scripts/benchmark_pipeline.py [--threads 2] [--json build/benchmark.json]
    # before the project's models are exported, on the peer's own ONNX files:
    M=.venv/lib/python3.11/site-packages/rapidocr_onnxruntime/models
    .venv/bin/python scripts/benchmark_pipeline.py \\
        --detector $M/ch_PP-OCRv4_det_infer.onnx --recognizer $M/ch_PP-OCRv4_rec_infer.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ocrstack.config import detector_config, recognizer_config
from ocrstack.evaluation.dataset import DATA_ENV_VAR, Sample, TextBox, by_kind, data_root, load_samples
from ocrstack.evaluation.metrics import (
    Counts,
    CropScore,
    IcdarCounts,
    character_counts,
    evaluate_icdar,
    score_crop,
    summarize_crops,
    token_counts,
    total,
)
from ocrstack.pipeline import OcrPipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DETECTOR = REPO_ROOT / "model_repository" / "text_detection" / "1" / "model.onnx"
DEFAULT_RECOGNIZER = REPO_ROOT / "model_repository" / "text_recognition_ch" / "1" / "model.onnx"
DEFAULT_TOLERANCE = 0.02

# Figures that fail the run when ours is below the peer by more than the tolerance. Precision and
# recall are shown but not gated one by one: a detector that trades one for the other at the same
# hmean has not regressed.
GATED_FIGURES = (
    "icdar.det_hmean",
    "icdar.e2e_hmean",
    "crops.en.accuracy",
    "crops.en.one_minus_ned",
    "crops.zh.accuracy",
    "crops.zh.one_minus_ned",
    "crops.all.accuracy",
    "crops.all.one_minus_ned",
    "pages.char_f1",
)

Lines = list[tuple[np.ndarray, str]]  # (quad 4 x 2, text) per line read
ReadPage = Callable[[np.ndarray], Lines]
ReadCrop = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class System:
    """One side of the comparison: a full-pipeline reader and a recognition-only reader."""

    name: str
    read_page: ReadPage
    read_crop: ReadCrop


@dataclass
class Outputs:
    """What a system read, keyed by sample path."""

    pages: dict[Path, Lines] = field(default_factory=dict)
    crops: dict[Path, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- systems


def build_ours(detector: Path, recognizer: Path, threads: int) -> System:
    pipeline = OcrPipeline.from_onnx(
        detector,
        {"horizontal": recognizer},
        detector_config(),
        {"horizontal": recognizer_config("text_recognition_ch")},
        threads=threads,
    )

    def read_page(image: np.ndarray) -> Lines:
        return [(line.box, line.text) for line in pipeline(image)]

    def read_crop(crop: np.ndarray) -> str:
        return pipeline.recognize([crop])[0][0]

    return System("ours", read_page, read_crop)


def build_peer(threads: int, use_cls: bool = True) -> System:
    """The peer with its defaults; ``use_cls=False`` drops its 180-degree classifier, which ours lacks."""
    # Imported here so that `--help` works without the peer installed.
    from rapidocr_onnxruntime import RapidOCR

    # Global thread settings are copied into the det, cls and rec sessions; inter-op 1 as ours.
    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, use_cls=use_cls)

    def read_page(image: np.ndarray) -> Lines:
        result, _ = engine(image)
        return [(np.asarray(box, dtype=np.float32), text) for box, text, _score in result or []]

    def read_crop(crop: np.ndarray) -> str:
        result, _ = engine(crop, use_det=False, use_cls=False, use_rec=True)
        return str(result[0][0]) if result else ""

    return System("peer", read_page, read_crop)


# -------------------------------------------------------------------------------------------- accuracy


def read_all(system: System, samples: Sequence[Sample], images: dict[Path, np.ndarray], bar: tqdm) -> Outputs:
    outputs = Outputs()
    for sample in samples:
        bar.set_postfix_str(f"{system.name} {sample.name}")
        image = images[sample.path]
        if sample.kind == "crop":
            outputs.crops[sample.path] = system.read_crop(image)
        else:
            outputs.pages[sample.path] = system.read_page(image)
        bar.update()
    return outputs


def crop_figures(samples: Sequence[Sample], outputs: Outputs) -> dict[str, dict[str, float]]:
    scores: dict[str, list[CropScore]] = {}
    for sample in by_kind(samples, "crop"):
        score = score_crop(outputs.crops[sample.path], "".join(sample.lines))
        scores.setdefault(sample.lang, []).append(score)
        scores.setdefault("all", []).append(score)
    figures = {}
    for group, group_scores in sorted(scores.items()):
        summary = summarize_crops(group_scores)
        figures[group] = {
            "count": summary.count,
            "accuracy": summary.accuracy,
            "one_minus_ned": summary.similarity,
        }
    return figures


def icdar_figures(samples: Sequence[Sample], outputs: Outputs) -> dict[str, float]:
    counts = IcdarCounts()
    for sample in by_kind(samples, "icdar"):
        detections = [TextBox(points=quad, text=text) for quad, text in outputs.pages[sample.path]]
        counts += evaluate_icdar(sample.boxes, detections)
    det, e2e = counts.detection, counts.end_to_end
    return {
        "det_precision": det.precision,
        "det_recall": det.recall,
        "det_hmean": det.hmean,
        "e2e_precision": e2e.precision,
        "e2e_recall": e2e.recall,
        "e2e_hmean": e2e.hmean,
        "matched": det.matched,
        "detections": det.predicted,
        "ground_truth": det.expected,
    }


def page_figures(samples: Sequence[Sample], outputs: Outputs) -> dict[str, float]:
    """Character and token scores over all pages, from summed counts (micro average)."""
    chars: list[Counts] = []
    tokens: list[Counts] = []
    for sample in by_kind(samples, "page"):
        predicted = "\n".join(text for _quad, text in outputs.pages[sample.path])
        expected = "\n".join(sample.lines)
        chars.append(character_counts(predicted, expected))
        tokens.append(token_counts(predicted, expected))
    char, token = total(chars), total(tokens)
    return {
        "char_precision": char.precision,
        "char_recall": char.recall,
        "char_f1": char.hmean,
        "token_precision": token.precision,
        "token_recall": token.recall,
        "token_f1": token.hmean,
    }


def accuracy_figures(samples: Sequence[Sample], outputs: Outputs) -> dict[str, Any]:
    return {
        "icdar": icdar_figures(samples, outputs),
        "crops": crop_figures(samples, outputs),
        "pages": page_figures(samples, outputs),
    }


def sample_texts(
    samples: Sequence[Sample], outputs: dict[str, Outputs], root: Path
) -> dict[str, dict[str, Any]]:
    """What each system read per image, beside the ground truth, for looking into a difference."""
    texts: dict[str, dict[str, Any]] = {}
    for sample in samples:
        key = str(sample.path.relative_to(root))
        if sample.kind == "crop":
            texts[key] = {"truth": "".join(sample.lines)}
            texts[key].update({name: out.crops[sample.path] for name, out in outputs.items()})
        else:
            truth = [box.text for box in sample.boxes] if sample.kind == "icdar" else list(sample.lines)
            texts[key] = {"truth": truth}
            texts[key].update(
                {name: [text for _q, text in out.pages[sample.path]] for name, out in outputs.items()}
            )
    return texts


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# ----------------------------------------------------------------------------------------------- speed


def time_call(read: ReadPage, image: np.ndarray) -> float:
    start = time.perf_counter()
    read(image)
    return time.perf_counter() - start


def measure_speed(
    systems: tuple[System, System], images: Sequence[np.ndarray], repeats: int, bar: tqdm
) -> dict[str, list[float]]:
    """Per-image median seconds of each system's full pipeline.

    The two alternate image by image, and which one goes first flips on every call, so that neither
    gains from the other having just warmed the caches or lost the CPU's boost clock.
    """
    samples: dict[str, list[list[float]]] = {s.name: [[] for _ in images] for s in systems}
    for repeat in range(repeats):
        for index, image in enumerate(images):
            order = systems if (repeat + index) % 2 == 0 else systems[::-1]
            for system in order:
                samples[system.name][index].append(time_call(system.read_page, image))
            bar.update()
    return {name: [statistics.median(times) for times in per_image] for name, per_image in samples.items()}


def speed_figures(medians: dict[str, list[float]]) -> dict[str, Any]:
    """Images/s from the per-image medians, median latency, and ours against the peer."""
    figures: dict[str, Any] = {}
    for name, seconds in medians.items():
        figures[name] = {
            "images_per_s": len(seconds) / sum(seconds),
            "median_latency_ms": 1000 * statistics.median(seconds),
        }
    per_image_speedup = [p / o for o, p in zip(medians["ours"], medians["peer"], strict=True)]
    figures["ratio"] = {
        "throughput_ours_over_peer": figures["ours"]["images_per_s"] / figures["peer"]["images_per_s"],
        "median_per_image_speedup": statistics.median(per_image_speedup),
    }
    return figures


# ----------------------------------------------------------------------------------------------- report


def check(ours: dict[str, float], peer: dict[str, float], tolerance: float) -> list[str]:
    """Gated figures on which ours is more than ``tolerance`` below the peer."""
    return [
        f"{name}: ours {ours[name]:.3f} < peer {peer[name]:.3f} - {tolerance}"
        for name in GATED_FIGURES
        if name in ours and name in peer and ours[name] < peer[name] - tolerance
    ]


def print_accuracy(ours: dict[str, float], peer: dict[str, float], tolerance: float) -> None:
    print(f"\n{'accuracy':<28}{'ours':>9}{'peer':>9}{'diff':>9}")
    for name in peer:
        if name.endswith(".count") or not isinstance(peer[name], float):
            continue
        diff = ours[name] - peer[name]
        mark = ""
        if name in GATED_FIGURES:
            mark = "  FAIL" if diff < -tolerance else "  gated"
        print(f"{name:<28}{ours[name]:>9.3f}{peer[name]:>9.3f}{diff:>+9.3f}{mark}")
    icdar = ("icdar.matched", "icdar.detections", "icdar.ground_truth")
    print("icdar counts (matched/detections/ground truth):", end="")
    print(f"  ours {'/'.join(str(ours[k]) for k in icdar)}  peer {'/'.join(str(peer[k]) for k in icdar)}")


def print_speed(speed: dict[str, Any], count: int, repeats: int, threads: int) -> None:
    print(f"\nspeed: {count} images (pages + ICDAR), full pipeline, {threads} threads each,", end="")
    print(f" per-image medians of {repeats} alternating runs")
    for name in ("ours", "peer"):
        ips, latency = speed[name]["images_per_s"], speed[name]["median_latency_ms"]
        print(f"  {name:<5} {ips:7.2f} images/s   median latency {latency:7.1f} ms")
    ratio = speed["ratio"]
    print(
        f"  ours / peer throughput {ratio['throughput_ours_over_peer']:.2f}x,"
        f" median per-image speed-up {ratio['median_per_image_speedup']:.2f}x"
    )


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="our detection ONNX file")
    parser.add_argument(
        "--recognizer", type=Path, default=DEFAULT_RECOGNIZER, help="our recognition ONNX file"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads, ours and the peer's"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help=f"real set (default: ${DATA_ENV_VAR} or {data_root()})"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the images")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--no-check", action="store_true", help="exit 0 whatever the accuracy")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    parser.add_argument(
        "--peer-without-cls", action="store_true", help="run the peer without its angle classifier, as ours"
    )
    return parser.parse_args(argv)


def load_images(samples: Sequence[Sample]) -> dict[Path, np.ndarray]:
    """Decoded once, up front: decoding is the same work for both and is not what is compared."""
    images = {}
    for sample in samples:
        image = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot decode {sample.path}")
        images[sample.path] = image
    return images


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for path in (args.detector, args.recognizer):
        if not path.is_file():
            raise SystemExit(
                f"{path} not found: run `make model-repository`, or pass --detector/--recognizer"
            )
    root = data_root(args.data)
    samples = load_samples(root)
    images = load_images(samples)
    systems = (
        build_ours(args.detector, args.recognizer, args.threads),
        build_peer(args.threads, not args.peer_without_cls),
    )

    # The accuracy pass doubles as the warm-up of the speed pass (sessions, arenas, caches).
    with tqdm(total=2 * len(samples), desc="accuracy", unit="image") as bar:
        outputs = {system.name: read_all(system, samples, images, bar) for system in systems}
    figures = {name: accuracy_figures(samples, out) for name, out in outputs.items()}
    ours, peer = flatten(figures["ours"]), flatten(figures["peer"])

    report: dict[str, Any] = {
        "settings": {
            "detector": str(args.detector),
            "recognizer": str(args.recognizer),
            "threads": args.threads,
            "repeats": args.repeats,
            "peer_angle_classifier": not args.peer_without_cls,
            "data": str(root),
        },
        "accuracy": figures,
        "texts": sample_texts(samples, outputs, root),
    }
    if not args.no_speed:
        timed = [images[s.path] for s in samples if s.kind in ("page", "icdar")]
        with tqdm(total=args.repeats * len(timed), desc="speed", unit="image") as bar:
            medians = measure_speed(systems, timed, args.repeats, bar)
        report["speed"] = speed_figures(medians)

    print_accuracy(ours, peer, args.tolerance)
    if "speed" in report:
        print_speed(report["speed"], len(timed), args.repeats, args.threads)
    failures = check(ours, peer, args.tolerance)
    report["check"] = {"tolerance": args.tolerance, "gated": list(GATED_FIGURES), "failures": failures}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
