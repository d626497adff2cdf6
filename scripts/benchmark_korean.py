"""Korean accuracy on real images: ours (``lang=ko``) beside Tesseract 5 (``-l kor``) and RapidOCR 1.4.4.

Reads the real Korean development set (``../shared/testdata/real_ko``, see its README) in one run, every
system on the same decoded images. Crops go through recognition only, the whole image as one line (turned
and read by the vertical recognizer when it is a column, as the served ``recognize_crops`` does with
``orientation=auto``); pages go through the full pipeline. Figures:

- crops: exact match and mean 1 - normalised edit distance;
- pages: character precision / recall / F1 over the multiset of characters of all lines read against
  all ground-truth lines (NFKC, case, spaces and punctuation ignored, reading order ignored), summed
  over pages; the same F1 over every item (crops included), per source folder (licence plates
  ``cvlab_lp``, ``upstage``, ``tapsee``, ``egov``), and on Hangul characters only.

Ours is the in-process ``OcrPipeline`` on ``model_repository``'s ONNX files, with the recognizers the
server picks for the language (``ocrstack.config.recognizers_for`` over the repository's models) and
images decoded by the server's own decoder (transparency composited on white). ``--served URL`` also
reads everything through a running gateway (``/ocr`` for pages, ``/recognition`` for crops) as a column
of its own, and lists the images where it and the in-process pipeline read differently. Peers that are
not installed are skipped with a note.

    nice -n 10 .venv/bin/python -m scripts.benchmark_korean --threads 2 --json build/benchmark_korean.json
    # Tesseract: apt-get install tesseract-ocr tesseract-ocr-kor; per-image texts: --verbose
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from loadtest import peer_systems
from loadtest.peer_systems import Lines, System
from ocrstack.config import (
    Orientation,
    RecognizerConfig,
    detector_config,
    recognizer_config,
    recognizers_for,
)
from ocrstack.evaluation.dataset import (
    KOREAN_DATA_ENV_VAR,
    Sample,
    by_kind,
    data_root,
    korean_data_root,
    load_samples,
    source_of,
)
from ocrstack.evaluation.metrics import (
    Counts,
    character_counts,
    hangul_counts,
    score_crop,
    summarize_crops,
    total,
)
from ocrstack.pipeline import decode_image
from ocrstack.pipeline.pipeline import OcrPipeline
from ocrstack.serving.repository import model_names
from scripts.benchmark_pipeline import (
    Outputs,
    crop_figures,
    measure_speed,
    page_figures,
    read_all,
    sample_texts,
    second_reader_of,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPOSITORY = REPO_ROOT / "model_repository"
DETECTOR = "text_detection"
LANGUAGE = "ko"
NO_BOX = np.zeros((4, 2), np.float32)  # Tesseract's lines are read without their boxes: none is scored


# --------------------------------------------------------------------------------------------- systems


def onnx_file(repository: Path, model: str) -> Path:
    return repository / model / "1" / "model.onnx"


def latin_crop_figures(repository: Path, threads: int) -> dict[str, dict[str, float]]:
    """The English crops of the real benchmark set (``../shared/testdata/real``) read as one line each by
    the Korean lines model alone and by its second reader: what the mixed-script second reading is for."""
    crops = [s for s in by_kind(load_samples(data_root()), "crop") if s.lang == "en"]
    lines = recognizer_config(recognizers_for(LANGUAGE, model_names(repository))["horizontal"])
    figures: dict[str, dict[str, float]] = {}
    for name in (lines.name, lines.second_reader):
        if name is None:
            continue
        pipeline = OcrPipeline.from_onnx(
            onnx_file(repository, DETECTOR),
            {"horizontal": onnx_file(repository, name)},
            detector_config(DETECTOR),
            {"horizontal": recognizer_config(name)},
            threads=threads,
        )
        read = [pipeline.recognize([decode_image(s.path.read_bytes())])[0][0] for s in crops]
        summary = summarize_crops([score_crop(p, "".join(s.lines)) for p, s in zip(read, crops, strict=True)])
        figures[name] = {
            "count": summary.count,
            "accuracy": summary.accuracy,
            "one_minus_ned": summary.similarity,
        }
    return figures


def build_ours(
    repository: Path,
    language: str,
    threads: int,
    second_reading: bool = True,
    width_buckets: tuple[int, ...] | None = None,
) -> tuple[System, dict[Orientation, str]]:
    """The in-process pipeline with the recognizers the server would choose for ``language``, and the
    second reader of mixed-script lines where the repository has it (as the server does); with
    ``width_buckets``, the chosen recognizers pad crops to those instead of their records' own."""
    available = model_names(repository)
    chosen = recognizers_for(language, available)
    records = {orientation: recognizer_config(name) for orientation, name in chosen.items()}
    if width_buckets is not None:
        records = {o: replace(record, width_buckets=width_buckets) for o, record in records.items()}
    paths = {orientation: onnx_file(repository, name) for orientation, name in chosen.items()}
    for path in (onnx_file(repository, DETECTOR), *paths.values()):
        if not path.is_file():
            raise SystemExit(f"{path} not found: run `make model-repository`")
    in_repository = partial(onnx_file, repository)
    second = second_reader_of(recognizer_config(chosen["horizontal"]), onnx_of=in_repository)
    pipeline = OcrPipeline.from_onnx(
        onnx_file(repository, DETECTOR),
        paths,
        detector_config(DETECTOR),
        records,
        threads=threads,
        second_reader=second if second_reading else None,
    )

    def read_page(image: np.ndarray) -> Lines:
        return [(line.box, line.text) for line in pipeline(image)]

    def read_crop(crop: np.ndarray) -> str:
        return pipeline.read_crops([crop])[0][0]

    return System("ours", read_page, read_crop), chosen


def encode_png(image: np.ndarray) -> bytes:
    """Lossless, so that whoever decodes it gets the very array the other systems read."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode image as PNG")
    return encoded.tobytes()


def build_served(url: str, language: str, api_key: str | None) -> System:
    """Ours through a running gateway: ``/ocr`` for pages, ``/recognition`` (orientation auto) for crops."""
    import httpx

    headers = {"X-API-Key": api_key} if api_key else {}
    client = httpx.Client(base_url=url.rstrip("/"), timeout=300, headers=headers)

    def post(path: str, **kwargs: Any) -> dict[str, Any]:
        response = client.post(path, **kwargs)
        if response.is_error:
            raise RuntimeError(f"{url}{path}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    def read_page(image: np.ndarray) -> Lines:
        body = post(
            "/ocr",
            params={"source_lang": language},
            content=encode_png(image),
            headers={"content-type": "image/png"},
        )
        return [(np.asarray(line["box"], np.float32), str(line["text"])) for line in body["lines"]]

    def read_crop(crop: np.ndarray) -> str:
        crop_b64 = base64.b64encode(encode_png(crop)).decode("ascii")
        body = post("/recognition", json={"crops": [crop_b64], "source_lang": language})
        return str(body["results"][0]["text"])

    return System("served", read_page, read_crop)


def build_tesseract(threads: int, languages: str) -> System | str:
    """Tesseract's CLI, images through stdin; pages in automatic layout (psm 3), crops as one line (psm 7).
    A note instead of a system when it or its language data is missing."""
    exe = shutil.which("tesseract")
    if exe is None:
        return "tesseract not found (apt-get install tesseract-ocr tesseract-ocr-kor): skipped"
    installed = set(subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split())
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        return f"tesseract has no {'+'.join(missing)} data (apt-get install tesseract-ocr-kor): skipped"
    env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def run(image: np.ndarray, psm: int) -> list[str]:
        command = [exe, "stdin", "stdout", "-l", languages, "--psm", str(psm)]
        done = subprocess.run(command, input=encode_png(image), capture_output=True, env=env, check=True)
        return [line.strip() for line in done.stdout.decode("utf-8").splitlines() if line.strip()]

    def read_page(image: np.ndarray) -> Lines:
        return [(NO_BOX, line) for line in run(image, 3)]

    def read_crop(crop: np.ndarray) -> str:
        return " ".join(run(crop, 7))

    return System("tesseract", read_page, read_crop)


def build_rapidocr(threads: int) -> System | str:
    """RapidOCR with its defaults (Chinese/English models: it ships no Korean one)."""
    try:
        return replace(peer_systems.build_rapidocr(threads), name="rapidocr")
    except ImportError as error:
        return f"rapidocr_onnxruntime not importable ({error}): skipped"


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    exe = shutil.which("tesseract")
    if exe:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True)
        versions["tesseract"] = (done.stdout or done.stderr).splitlines()[0]
    try:
        from importlib.metadata import version

        versions["rapidocr"] = f"rapidocr_onnxruntime {version('rapidocr_onnxruntime')}"
    except Exception:  # not installed: nothing to report
        pass
    return versions


# -------------------------------------------------------------------------------------------- accuracy


def read_text(sample: Sample, outputs: Outputs) -> str:
    """Everything a system read for one item, one line per line."""
    if sample.kind == "crop":
        return outputs.crops[sample.path]
    return "\n".join(text for _quad, text in outputs.pages[sample.path])


def char_scores(samples: Sequence[Sample], outputs: Outputs) -> dict[str, float]:
    """Character and Hangul-only precision / recall / F1 over the items, from summed counts."""
    pairs = [(read_text(s, outputs), "\n".join(s.lines)) for s in samples]
    chars: Counts = total(character_counts(p, r) for p, r in pairs)
    hangul: Counts = total(hangul_counts(p, r) for p, r in pairs)
    return {
        "count": len(samples),
        "char_precision": chars.precision,
        "char_recall": chars.recall,
        "char_f1": chars.hmean,
        "hangul_precision": hangul.precision,
        "hangul_recall": hangul.recall,
        "hangul_f1": hangul.hmean,
    }


def korean_figures(samples: Sequence[Sample], outputs: Outputs, root: Path) -> dict[str, Any]:
    pages = [s for s in samples if s.kind == "page"]
    sources: dict[str, list[Sample]] = {}
    for sample in samples:
        sources.setdefault(source_of(sample, root), []).append(sample)
    return {
        "crops": crop_figures(samples, outputs).get("all", {"count": 0}),
        "pages": {**page_figures(samples, outputs), **char_scores(pages, outputs)},
        "all_items": char_scores(samples, outputs),
        "sources": {source: char_scores(group, outputs) for source, group in sources.items()},
    }


def per_image(
    samples: Sequence[Sample], outputs: dict[str, Outputs], root: Path
) -> dict[str, dict[str, Any]]:
    """Ground truth, each system's lines and its character F1, per image."""
    texts = sample_texts(samples, outputs, root)
    for sample in samples:
        entry = texts[str(sample.path.relative_to(root))]
        entry["kind"] = sample.kind
        entry["char_f1"] = {
            name: character_counts(read_text(sample, out), "\n".join(sample.lines)).hmean
            for name, out in outputs.items()
        }
    return texts


def disagreements(samples: Sequence[Sample], outputs: dict[str, Outputs], root: Path) -> list[str]:
    """Images where the served and the in-process pipeline read different texts."""
    ours, served = outputs["ours"], outputs["served"]
    return [str(s.path.relative_to(root)) for s in samples if read_text(s, ours) != read_text(s, served)]


# ----------------------------------------------------------------------------------------------- report


def table_rows(figures: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(figure, one cell per system) for the markdown summary."""
    first = next(iter(figures.values()))
    crops, pages, items = first["crops"]["count"], first["pages"]["count"], first["all_items"]["count"]
    rows: list[tuple[str, tuple[str, ...]]] = [
        (f"crop exact match ({crops} crops)", ("crops", "accuracy")),
        ("crop 1-NED", ("crops", "one_minus_ned")),
        (f"page char F1 ({pages} pages)", ("pages", "char_f1")),
        ("page char precision", ("pages", "char_precision")),
        ("page char recall", ("pages", "char_recall")),
        ("page Hangul char F1", ("pages", "hangul_f1")),
        ("page token F1", ("pages", "token_f1")),
        (f"all items char F1 ({items} items)", ("all_items", "char_f1")),
        ("all items Hangul char F1", ("all_items", "hangul_f1")),
    ]
    for source, scores in first["sources"].items():
        rows.append((f"char F1 {source}/ ({scores['count']} items)", ("sources", source, "char_f1")))
    rows.append(("seconds per image (one pass)", ("seconds_per_image",)))

    def cell(tree: dict[str, Any], keys: tuple[str, ...]) -> str:
        value: Any = tree
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return f"{value:.3f}" if isinstance(value, float) else "–"

    return [(label, [cell(figures[name], keys) for name in figures]) for label, keys in rows]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " / ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verbose_table(texts: dict[str, dict[str, Any]], names: Sequence[str]) -> str:
    def joined(value: str | list[str]) -> str:
        return value if isinstance(value, str) else "\n".join(value)

    rows = [
        [key, entry["kind"], joined(entry["truth"])]
        + [f"{entry['char_f1'][name]:.2f}: {joined(entry[name])}" for name in names]
        for key, entry in texts.items()
    ]
    return markdown_table(["image", "kind", "ground truth", *names], rows)


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"real Korean set (default: ${KOREAN_DATA_ENV_VAR} or {korean_data_root()})",
    )
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="exported models")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads for every system (intra-op, OMP)"
    )
    parser.add_argument(
        "--baseline-repository",
        type=Path,
        default=None,
        help="also read with the models of this repository (e.g. the previous release) as 'baseline'",
    )
    parser.add_argument(
        "--no-second-reading",
        action="store_true",
        help="read mixed-script lines with the Korean model alone (no second reader)",
    )
    parser.add_argument(
        "--baseline-second-reading",
        action="store_true",
        help="give the baseline the second reader too (default: the baseline reads without it)",
    )
    parser.add_argument(
        "--speed-repeats",
        type=int,
        default=0,
        help="with --baseline-repository: time both on the pages, alternating, this many passes",
    )
    parser.add_argument("--served", metavar="URL", default=None, help="also read through this gateway")
    parser.add_argument(
        "--api-key", default=os.environ.get("OCRSTACK_API_KEY"), help="X-API-Key for --served"
    )
    parser.add_argument("--tesseract-lang", default="kor", help="Tesseract's -l (e.g. kor+eng)")
    parser.add_argument(
        "--skip", action="append", default=[], choices=["tesseract", "rapidocr"], help="leave a peer out"
    )
    parser.add_argument(
        "--latin-crops",
        action="store_true",
        help="also read the English crops of ../shared/testdata/real with the Korean lines model alone "
        "and with its second reader",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--verbose", action="store_true", help="print ground truth and texts per image")
    return parser.parse_args(argv)


def load_images(samples: Sequence[Sample]) -> dict[Path, np.ndarray]:
    """Decoded once with the server's decoder: a PNG with transparency is read on white, as served."""
    return {sample.path: decode_image(sample.path.read_bytes()) for sample in samples}


def build_systems(args: argparse.Namespace) -> tuple[list[System], list[str], dict[Orientation, str]]:
    ours, chosen = build_ours(args.repository, LANGUAGE, args.threads, not args.no_second_reading)
    systems = [ours]
    if args.baseline_repository is not None:
        second = args.baseline_second_reading
        # as it was served: every recognizer's crops padded to the default buckets, 320 wide at least
        buckets = RecognizerConfig.width_buckets
        baseline, _ = build_ours(args.baseline_repository, LANGUAGE, args.threads, second, buckets)
        systems.append(replace(baseline, name="baseline"))
    notes: list[str] = []
    if args.served:
        systems.append(build_served(args.served, LANGUAGE, args.api_key))
    peers = {
        "tesseract": lambda: build_tesseract(args.threads, args.tesseract_lang),
        "rapidocr": lambda: build_rapidocr(args.threads),
    }
    for name, build in peers.items():
        if name in args.skip:
            continue
        built = build()
        if isinstance(built, str):
            notes.append(built)
        else:
            systems.append(built)
    return systems, notes, dict(chosen)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = korean_data_root(args.data)
    if not (root / "gt.json").is_file():
        raise SystemExit(f"no gt.json in {root}: pass --data or set ${KOREAN_DATA_ENV_VAR}")
    samples = load_samples(root)
    images = load_images(samples)
    systems, notes, chosen = build_systems(args)
    for note in notes:
        print(f"note: {note}")

    outputs: dict[str, Outputs] = {}
    seconds: dict[str, float] = {}
    with tqdm(total=len(systems) * len(samples), desc="reading", unit="image") as bar:
        for system in systems:
            start = time.perf_counter()
            outputs[system.name] = read_all(system, samples, images, bar)
            seconds[system.name] = (time.perf_counter() - start) / len(samples)
    figures = {
        name: {**korean_figures(samples, out, root), "seconds_per_image": seconds[name]}
        for name, out in outputs.items()
    }
    texts = per_image(samples, outputs, root)
    speed = None
    if args.speed_repeats > 0 and "baseline" in outputs:
        by_name = {system.name: system for system in systems}
        pages = [images[sample.path] for sample in samples if sample.kind == "page"]
        with tqdm(total=args.speed_repeats * len(pages), desc="timing", unit="image") as bar:
            medians = measure_speed((by_name["ours"], by_name["baseline"]), pages, args.speed_repeats, bar)
        speed = {name: len(times) / sum(times) for name, times in medians.items()}
        speed["ours_over_baseline"] = speed["ours"] / speed["baseline"]
        passes = f"{args.threads} threads, medians of {args.speed_repeats} alternating passes"
        print(
            f"\npages, images/s ({passes}): ours {speed['ours']:.2f}, "
            f"baseline {speed['baseline']:.2f}, ratio {speed['ours_over_baseline']:.3f}"
        )

    names = list(outputs)
    print()
    print(markdown_table(["figure", *names], [[label, *cells] for label, cells in table_rows(figures)]))
    latin = latin_crop_figures(args.repository, args.threads) if args.latin_crops else None
    for name, figure in (latin or {}).items():
        print(
            f"English crops of the real set ({int(figure['count'])}) read by {name} alone: exact "
            f"{figure['accuracy']:.3f}, 1 - NED {figure['one_minus_ned']:.3f}"
        )
    report: dict[str, Any] = {
        "settings": {
            "data": str(root),
            "language": LANGUAGE,
            "repository": str(args.repository),
            "recognizers": chosen,
            "threads": args.threads,
            "served": args.served,
            "tesseract_lang": args.tesseract_lang,
            "versions": tool_versions(),
        },
        "notes": notes,
        "accuracy": figures,
        "speed_pages_images_per_s": speed,
        "latin_crops": latin,
        "texts": texts,
    }
    if "served" in outputs:
        differ = disagreements(samples, outputs, root)
        report["served_differs_from_in_process"] = differ
        print(f"\nserved vs in-process: {len(differ)} of {len(samples)} images read differently {differ}")
    if args.verbose:
        print()
        print(verbose_table(texts, names))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
