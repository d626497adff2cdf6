"""Rendered English benchmark: token F1 with the word spaces kept, on paragraph lines read by our pipeline.

    .venv/bin/python -m scripts.benchmark_english [--lines 320] [--seed 0] [--served] [--json OUT] \\
        [--detector-model NAME] [--recognizer-model NAME]

In process, ``--detector-model``/``--recognizer-model`` pick candidate config records (their ONNX files
as ``scripts/benchmark_pipeline.py`` finds them); the served pipeline reads with what the repository serves.

Text: sentences of English words drawn from wordfreq's list (weighted by a tempered frequency), with
capitals (some paragraphs all in capitals, as on signs), numbers and punctuation, wrapped into lines of
16 to 48 characters like a paragraph's. Lines are rendered in several fonts (sans, serif, condensed,
mono, bold, italic) and degraded as a photograph is: small text (14 to 36 pixels high), blur, sensor
noise, uneven light, low contrast and JPEG.

Three sets, all fixed by ``--seed``:

- crops: each line alone with a few pixels of margin, read by recognition only;
- signs: one to three words, mostly in capitals and often letter-spaced (0.05 to 0.5 em), as shop fronts
  and doors set them, degraded like the lines and read by recognition only;
- pages: the same lines, several to a page, rendered and degraded as one image, read by the full
  pipeline (detection, crops, recognition) in process and, with ``--served``, by the ``ocr`` ensemble
  on an embedded Triton server started on free loopback ports.

In process, every set is read twice, with the word-space rule off and on
(:mod:`ocrstack.pipeline.word_spaces`), so the rule's effect is measured on the same images. The served
pipeline reads as it is configured. Figures: token F1 (whitespace tokens, spaces kept, see
:func:`ocrstack.evaluation.metrics.token_counts`), character F1, and lines read exactly (crops only).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ocrstack.config import Orientation, detector_config, recognizer_config
from ocrstack.evaluation.metrics import Counts, character_counts, normalize_text, token_counts, total
from ocrstack.pipeline.mixed_script import keep_better, lines_to_read_again
from ocrstack.pipeline.pipeline import OcrPipeline, Recognizer
from ocrstack.synth.fonts import FontFace, installed_faces
from ocrstack.synth.render import LineSpec, render_page, render_text_line, text_mask
from scripts.benchmark_pipeline import model_onnx, second_reader_of

REPO_ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = REPO_ROOT / "model_repository"
DETECTOR = "text_detection"
RECOGNIZER = "text_recognition_ch"

# Faces by file name (and face index in a collection): Debian's fonts-dejavu-core/-extra, fonts-noto-cjk
# (its Latin is Source Sans/Serif) and fonts-nanum; missing ones are skipped and named.
FONTS = (
    ("DejaVuSans.ttf", 0),
    ("DejaVuSerif.ttf", 0),
    ("DejaVuSansCondensed.ttf", 0),
    ("DejaVuSans-Bold.ttf", 0),
    ("DejaVuSerif-Italic.ttf", 0),
    ("DejaVuSansMono.ttf", 0),
    ("NotoSansCJK-Regular.ttc", 2),
    ("NotoSerifCJK-Regular.ttc", 2),
    ("NanumGothic.ttf", 0),
    ("NanumMyeongjo.ttf", 0),
)
VOCABULARY = 6000  # most frequent English words drawn from
FREQUENCY_EXPONENT = 0.6  # below 1, rarer (longer) words come up more often than in running text
LINE_CHARS = (16, 48)
CAPITALS_SHARE = 0.15  # paragraphs set in capitals, as signs and headings often are
LINES_PER_PAGE = (3, 7)
PAGE_WIDTH = 960  # pixels of a page as finally seen
PAGE_MARGIN = 32  # pixels at render size
# Signs: one to three words, mostly in capitals, often letter-spaced (tracking in ems), as shop fronts,
# doors and plates set them; the word-space rule must find their word gaps and no gap inside a word.
SIGN_WORDS = (1, 2, 3)
SIGN_WORD_WEIGHTS = (0.45, 0.35, 0.2)
SIGN_CASES = (("upper", 0.6), ("title", 0.3), ("as is", 0.1))
SIGN_TRACKING = (0.05, 0.5)
SIGN_TRACKED_SHARE = 0.7


# ------------------------------------------------------------------------------------------------ text


def english_words() -> tuple[list[str], np.ndarray]:
    """Words of letters (and one apostrophe) with their draw probabilities."""
    from wordfreq import top_n_list, word_frequency

    words = [w for w in top_n_list("en", VOCABULARY) if _is_word(w)]
    weights = np.array([word_frequency(w, "en") for w in words]) ** FREQUENCY_EXPONENT
    return words, weights / weights.sum()


def _is_word(word: str) -> bool:
    letters = word.replace("'", "")
    return letters.isascii() and letters.isalpha() and (len(word) > 1 or word in "ai")


def _number(rng: np.random.Generator) -> str:
    kind = rng.integers(4)
    if kind == 0:
        return str(int(rng.integers(2, 100)))
    if kind == 1:
        return str(int(rng.integers(1900, 2030)))
    if kind == 2:
        return f"{rng.integers(1, 100)}.{rng.integers(0, 100):02d}"
    return f"{rng.integers(1, 13)}:{rng.integers(0, 60):02d}"


def sentence(rng: np.random.Generator, words: Sequence[str], p: np.ndarray) -> str:
    """One sentence: a capital, 4 to 16 words (some capitalised, a few numbers), commas, an ending."""
    tokens = []
    for _ in range(int(rng.integers(4, 17))):
        if rng.random() < 0.05:
            tokens.append(_number(rng))
            continue
        word = str(words[rng.choice(len(words), p=p)])
        word = "I" if word == "i" else word.replace("i'", "I'") if word.startswith("i'") else word
        if rng.random() < 0.08:
            word = word.capitalize()
        if rng.random() < 0.08:
            word += ","
        tokens.append(word)
    tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
    tokens[-1] = tokens[-1].rstrip(",") + str(rng.choice([".", ".", ".", "?", "!", ":"]))
    if rng.random() < 0.05 and len(tokens) > 3:
        i = int(rng.integers(1, len(tokens) - 1))
        tokens[i], tokens[i + 1] = "(" + tokens[i].rstrip(","), tokens[i + 1].rstrip(",") + ")"
    return " ".join(tokens)


def paragraph_lines(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` lines of running text, wrapped at word boundaries to lengths within LINE_CHARS."""
    words, p = english_words()
    lines: list[str] = []
    while len(lines) < count:
        width = int(rng.integers(LINE_CHARS[0] + 8, LINE_CHARS[1] + 1))
        text = " ".join(sentence(rng, words, p) for _ in range(int(rng.integers(2, 5))))
        if rng.random() < CAPITALS_SHARE:
            text = text.upper()
        line = ""
        for token in text.split():
            if line and len(line) + 1 + len(token) > width:
                lines.append(line)
                line = token
            else:
                line = f"{line} {token}" if line else token
        if len(line) >= LINE_CHARS[0]:
            lines.append(line)
    return lines[:count]


def sign_texts(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` sign texts: :data:`SIGN_WORDS` words, cased as :data:`SIGN_CASES` says, a few with a
    number."""
    words, p = english_words()
    cases = [case for case, _ in SIGN_CASES]
    case_p = [share for _, share in SIGN_CASES]
    texts = []
    for _ in range(count):
        tokens = [
            str(words[rng.choice(len(words), p=p)])
            for _ in range(rng.choice(SIGN_WORDS, p=SIGN_WORD_WEIGHTS))
        ]
        if rng.random() < 0.1:
            tokens.append(_number(rng))
        case = rng.choice(cases, p=case_p)
        text = " ".join(tokens)
        texts.append(text.upper() if case == "upper" else text.title() if case == "title" else text)
    return texts


# -------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Look:
    """How one line or page is drawn and degraded."""

    font: FontFace
    text_height: int  # pixels of the text (cap height to descender) as finally seen
    fg: tuple[int, int, int]
    bg: tuple[int, int, int]
    blur: float  # Gaussian sigma in final pixels (0: none)
    noise: float  # Gaussian noise sigma in grey levels
    light: float  # strength of a linear illumination gradient, 0 to 1
    jpeg: int  # JPEG quality


def benchmark_fonts() -> list[FontFace]:
    by_name = {(face.path.name, face.index): face for face in installed_faces()}
    missing = [name for name in FONTS if name not in by_name]
    if missing:
        print(f"fonts not installed, skipped: {missing}", file=sys.stderr)
    faces = [by_name[name] for name in FONTS if name in by_name]
    if not faces:
        raise SystemExit("no benchmark font is installed (apt-get install fonts-dejavu-core fonts-noto-cjk)")
    return faces


def random_look(rng: np.random.Generator, fonts: Sequence[FontFace]) -> Look:
    dark = int(rng.integers(0, 90))
    light = int(rng.integers(170, 256))
    fg, bg = (dark,) * 3, (light,) * 3
    if rng.random() < 0.3:  # light text on a dark ground
        fg, bg = bg, fg
    return Look(
        font=fonts[int(rng.integers(len(fonts)))],
        text_height=int(rng.integers(14, 37)),
        fg=fg,
        bg=bg,
        blur=float(rng.choice([0.0, rng.uniform(0.3, 1.0)])),
        noise=float(rng.uniform(0, 8)),
        light=float(rng.uniform(0, 0.5)),
        jpeg=int(rng.integers(35, 91)),
    )


def degrade(image: np.ndarray, scale: float, look: Look, rng: np.random.Generator) -> np.ndarray:
    """A clean BGR rendering made photo-like: shrunk by ``scale``, blurred, lit unevenly, noisy, JPEG."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small: np.ndarray = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    if look.blur > 0:
        small = cv2.GaussianBlur(small, (0, 0), look.blur)
    ramp = np.linspace(-look.light, look.light, small.shape[1], dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    ramp2d = (
        np.cos(angle) * ramp[None, :]
        + np.sin(angle) * np.linspace(-look.light, look.light, small.shape[0])[:, None]
    )
    small = small * (1 + 0.5 * ramp2d[..., None]) + rng.normal(0, look.noise, small.shape)
    ok, data = cv2.imencode(
        ".jpg", np.clip(small, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, look.jpeg]
    )
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


RENDER_HEIGHT = 64  # lines are drawn this high, then shrunk to their look's text height


def line_crops(seed: int, count: int) -> list[tuple[np.ndarray, str, Look]]:
    """``count`` degraded line crops, their texts and how each was drawn."""
    rng = np.random.default_rng(seed)
    fonts = benchmark_fonts()
    crops = []
    for text in paragraph_lines(rng, count):
        look = random_look(rng, fonts)
        padding = int(rng.integers(2, 12))
        height = RENDER_HEIGHT + 2 * padding
        image = render_text_line(
            text, look.font.path, height, look.fg, look.bg, padding=padding, font_index=look.font.index
        )
        crops.append((degrade(image, look.text_height / RENDER_HEIGHT, look, rng), text, look))
    return crops


def sign_crops(seed: int, count: int) -> list[tuple[np.ndarray, str, Look]]:
    """``count`` degraded sign crops (:func:`sign_texts`), letter-spaced :data:`SIGN_TRACKED_SHARE` of
    the time, their texts and how each was drawn."""
    rng = np.random.default_rng([seed, 2])
    fonts = benchmark_fonts()
    crops = []
    for text in sign_texts(rng, count):
        look = random_look(rng, fonts)
        tracking = float(rng.uniform(*SIGN_TRACKING)) if rng.random() < SIGN_TRACKED_SHARE else 0.0
        padding = int(rng.integers(2, 12))
        image = render_text_line(
            text,
            look.font.path,
            RENDER_HEIGHT + 2 * padding,
            look.fg,
            look.bg,
            padding=padding,
            font_index=look.font.index,
            tracking=tracking,
        )
        crops.append((degrade(image, look.text_height / RENDER_HEIGHT, look, rng), text, look))
    return crops


def pages(seed: int, count: int) -> list[tuple[np.ndarray, list[str]]]:
    """The lines of :func:`line_crops`, a few to a page (one look per page), and each page's lines."""
    texts = paragraph_lines(np.random.default_rng(seed), count)
    rng = np.random.default_rng([seed, 1])
    fonts = benchmark_fonts()
    out = []
    while texts:
        take = int(rng.integers(LINES_PER_PAGE[0], LINES_PER_PAGE[1] + 1))
        chunk, texts = texts[:take], texts[take:]
        look = random_look(rng, fonts)
        specs = [
            LineSpec(text, look.font.path, RENDER_HEIGHT, look.fg, font_index=look.font.index)
            for text in chunk
        ]
        scale = look.text_height / RENDER_HEIGHT
        widest = max(
            text_mask(spec.text, spec.font_path, spec.height, font_index=spec.font_index).shape[1]
            for spec in specs
        )
        size = (
            max(round(PAGE_WIDTH / scale), widest + 2 * PAGE_MARGIN),
            round(RENDER_HEIGHT * 2.2 * len(chunk)) + 2 * PAGE_MARGIN,
        )
        page, _truth = render_page(specs, size, look.bg, seed=int(rng.integers(1 << 30)), margin=PAGE_MARGIN)
        out.append((degrade(page, scale, look, rng), chunk))
    return out


# ------------------------------------------------------------------------------------------- readers


def recognizer_variant(pipeline: OcrPipeline, word_spaces: bool) -> OcrPipeline:
    """The same engines, with the horizontal recognizer's word-space switch set as asked."""
    recognizer = pipeline.recognizers["horizontal"]
    config = dataclasses.replace(recognizer.config, word_spaces=word_spaces)
    recognizers: dict[Orientation, Recognizer] = {
        "horizontal": dataclasses.replace(recognizer, config=config)
    }
    return OcrPipeline(pipeline.detector, pipeline.det_cfg, recognizers, second_reader=pipeline.second_reader)


def in_process(
    threads: int, detector: str = DETECTOR, recognizer: str = RECOGNIZER
) -> dict[str, OcrPipeline]:
    """Our pipeline, its doubtful lines read again as served, with the word-space rule off and on."""
    pipeline = OcrPipeline.from_onnx(
        model_onnx(detector),
        {"horizontal": model_onnx(recognizer)},
        detector_config(detector),
        {"horizontal": recognizer_config(recognizer)},
        threads=threads,
        second_reader=second_reader_of(recognizer_config(recognizer)),
    )
    return {"rule off": recognizer_variant(pipeline, False), "rule on": recognizer_variant(pipeline, True)}


@contextmanager
def served_reader(workdir: Path) -> Iterator[Callable[[np.ndarray], list[str]]]:
    """Pages read by the ``ocr`` ensemble on an embedded Triton server (lang "en"), as configured."""
    import tritonclient.grpc as grpcclient

    from ocrstack.serving.client import run_ocr
    from ocrstack.serving.launcher.server import ServerOptions, TritonServer, free_ports

    http, grpc, metrics = free_ports(3)
    options = ServerOptions(REPOSITORY, http, grpc, metrics, workdir=workdir, ready_timeout_s=600)
    with TritonServer(options, log_file=workdir / "tritonserver.log") as server:
        server.wait_until_ready()
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")

        def read(page: np.ndarray) -> list[str]:
            ok, data = cv2.imencode(".png", page)
            assert ok
            return run_ocr(client, grpcclient, data.tobytes(), lang="en").texts

        yield read


# -------------------------------------------------------------------------------------------- scores


def figures(predicted: Sequence[str], expected: Sequence[str]) -> dict[str, float]:
    """Token and character F1 from counts summed over the items (micro average), and exact items."""
    tokens: Counts = total(token_counts(p, e) for p, e in zip(predicted, expected, strict=True))
    chars: Counts = total(character_counts(p, e) for p, e in zip(predicted, expected, strict=True))
    exact = sum(p.split() == e.split() for p, e in zip(predicted, expected, strict=True))
    return {
        "items": len(expected),
        "token_f1": tokens.hmean,
        "token_precision": tokens.precision,
        "token_recall": tokens.recall,
        "char_f1": chars.hmean,
        "exact": exact / max(len(expected), 1),
        # the token F1 if every item whose characters are right had its spaces right too
        "token_f1_spaces_ideal": total(
            token_counts(e if normalize_text(p) == normalize_text(e) else p, e)
            for p, e in zip(predicted, expected, strict=True)
        ).hmean,
    }


def read_crops(readers: dict[str, OcrPipeline], crops: Sequence[tuple[np.ndarray, str, Look]]) -> dict:
    expected = [text for _, text, _ in crops]
    images = [image for image, _, _ in crops]
    out = {}
    for name, pipeline in readers.items():
        read = [text for text, _ in pipeline.recognize(images)]
        out[name] = figures(read, expected)
    return out


def page_text(pipeline: OcrPipeline) -> Callable[[np.ndarray], list[str]]:
    """``pipeline`` as a page reader: the text of each line it reads."""
    return lambda image: [line.text for line in pipeline(image)]


def read_pages(
    readers: dict[str, Callable[[np.ndarray], list[str]]], page_set: Sequence[tuple[np.ndarray, list[str]]]
) -> dict:
    expected = ["\n".join(lines) for _, lines in page_set]
    out = {}
    for name, read in readers.items():
        predicted = ["\n".join(read(page)) for page, _ in tqdm(page_set, desc=f"pages, {name}", unit="page")]
        out[name] = figures(predicted, expected)
    return out


def second_reading_sweep(
    pipeline: OcrPipeline, crops: Sequence[tuple[np.ndarray, str, Look]], thresholds: Sequence[float]
) -> dict[str, dict[str, float]]:
    """The crops read as served with ``second_reading_latin_below`` at each threshold: figures and the
    share of the lines read again (each model reads every crop once; the readings are then combined as
    :mod:`ocrstack.pipeline.mixed_script` combines them)."""
    recognizer, second = pipeline.recognizers["horizontal"], pipeline.second_reader
    if second is None:
        raise SystemExit(f"{recognizer.config.name} has no second reader in this repository")
    images, expected = [image for image, _, _ in crops], [text for _, text, _ in crops]
    first = OcrPipeline(pipeline.detector, pipeline.det_cfg, pipeline.recognizers).recognize(images)
    again_all = OcrPipeline(pipeline.detector, pipeline.det_cfg, {"horizontal": second}).recognize(images)
    out = {}
    for threshold in thresholds:
        config = dataclasses.replace(recognizer.config, second_reading_latin_below=threshold)
        again = lines_to_read_again(first, config)
        read = list(first)
        keep_better(read, again, [again_all[i] for i in again])
        figures_read = figures([text for text, _ in read], expected)
        out[f"latin below {threshold:g}"] = {**figures_read, "read_again": len(again) / max(len(images), 1)}
    return out


def print_table(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    header = ("token F1", "P", "R", "char F1", "exact", "ideal sp.")
    print(f"  {'reader':28s} " + " ".join(f"{name:>9s}" for name in header))
    for name, f in results.items():
        print(
            f"  {name:28s} {f['token_f1']:9.3f} {f['token_precision']:9.3f} {f['token_recall']:9.3f} "
            f"{f['char_f1']:9.3f} {f['exact']:9.3f} {f['token_f1_spaces_ideal']:9.3f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=320, help="lines in each set (default 320)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads in process")
    parser.add_argument("--served", action="store_true", help="also read the pages through Triton")
    parser.add_argument("--no-pages", action="store_true", help="crops only (fast)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--detector-model", default=DETECTOR, help="detector config record, in process")
    parser.add_argument("--recognizer-model", default=RECOGNIZER, help="recognizer config record, in process")
    parser.add_argument(
        "--second-reading-sweep",
        type=float,
        nargs="+",
        metavar="T",
        help="also read the crops and signs with the second reader asked below each confidence T",
    )
    args = parser.parse_args(argv)

    readers = in_process(args.threads, args.detector_model, args.recognizer_model)
    crops = line_crops(args.seed, args.lines)
    results = {"crops": read_crops(readers, crops)}
    print_table(f"crops: {len(crops)} lines, recognition only (seed {args.seed})", results["crops"])
    signs = sign_crops(args.seed, args.lines)
    results["signs"] = read_crops(readers, signs)
    print_table(f"signs: {len(signs)} crops, recognition only (seed {args.seed})", results["signs"])
    if args.second_reading_sweep:
        for name, items in (("crops", crops), ("signs", signs)):
            sweep = second_reading_sweep(readers["rule on"], items, args.second_reading_sweep)
            results[f"{name}_second_reading"] = sweep
            print_table(f"{name}: the second reader asked below each confidence (seed {args.seed})", sweep)
            print("  share read again: " + ", ".join(f"{k} {v['read_again']:.2f}" for k, v in sweep.items()))
    if not args.no_pages:
        page_set = pages(args.seed, args.lines)
        page_readers: dict[str, Callable[[np.ndarray], list[str]]] = {
            f"in process, {name}": page_text(pipeline) for name, pipeline in readers.items()
        }
        with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
            if args.served:
                page_readers["served (ocr ensemble)"] = stack.enter_context(served_reader(Path(workdir)))
            results["pages"] = read_pages(page_readers, page_set)
        lines = sum(len(lines) for _, lines in page_set)
        print_table(
            f"pages: {len(page_set)} pages, {lines} lines, full pipeline (seed {args.seed})", results["pages"]
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        models = {"detector": args.detector_model, "recognizer": args.recognizer_model}
        args.json.write_text(
            json.dumps({"seed": args.seed, "lines": args.lines, "models": models, **results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
