"""Held-out evaluation of the Korean recognizers: a font split, a fixed test set, and the metrics.

Font split. Whole font *families* are held out of training, so the test set measures reading a design the
model never saw, not memorised glyph shapes. The held-out families are :data:`HELDOUT_FAMILIES`:

* ``UnBatang`` (은 바탕, unfonts-core): a serif (batang / myeongjo) design;
* ``Baekmuk Dotum`` (백묵 돋움, fonts-baekmuk): a sans (dotum / gothic) design from another foundry;

one of each of the two styles Korean print uses, neither among the fonts the pipeline itself prefers for
Hangul (``ocrstack.synth.fonts.PREFERRED_FAMILIES``), so the training set keeps the common faces. Where one
of them is not installed, the alphabetically last other families stand in (see :func:`split_fonts`). A
family is a face's first declared name; every weight of it (UnBatang and UnBatangBold) goes with it, and so
does any face sharing a file with a held-out face (the faces of one ``.ttc``).

Metrics are pure functions over strings: line accuracy (exact match) and the character error rate, the
summed edit distance divided by the summed reference length.

The held-out figures of a trained model (or of a run still training, from its ``train_state.pt``):

    python -m training.evaluate RUN/model.pt --orientation horizontal [--count 2000] [--json OUT]

The fixed test set is :data:`TEST_COUNT` lines of 1 to :data:`TEST_MAX_CHARS` characters per orientation.
Korean crops of the real benchmark set (``lang`` "ko" in its ``gt.json``) are read too, where there are any.
Every line is read as the server reads it: padded to its own width bucket, batched with lines of that bucket.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ocrstack.config import KOREAN_RECOGNIZERS, RecognizerConfig
from ocrstack.evaluation.dataset import by_kind, data_root, load_samples
from ocrstack.evaluation.metrics import edit_distance
from ocrstack.models import build_model
from ocrstack.pipeline.ctc import ctc_greedy_decode
from ocrstack.pipeline.preprocess import choose_width_bucket, recognition_batch, resized_width
from ocrstack.pipeline.stages import in_crop_order, recognition_chunks
from ocrstack.synth.bitmap_fonts import installed_bitmap_fonts, load_bitmap_font
from ocrstack.synth.fonts import PREFERRED_FAMILIES, FontFace, faces_for_script
from ocrstack.weights.checkpoint import load_checkpoint
from training.charset import load_charset
from training.synth_lines import SyntheticLines

HELDOUT_FAMILIES: tuple[str, ...] = ("UnBatang", "Baekmuk Dotum")
MIN_FAMILIES = 3  # two held out and at least one to train on
HELDOUT_SEED = 20_240_601  # the fixed test set; training uses small seeds, so the texts differ too
TIGHT_MULTIPLE = 8  # the models' largest sequence stride
TEST_COUNT = 2000
TEST_MAX_CHARS = 12  # lines as long as the training runs' (``--max-chars 12``)


def family_of(face: FontFace) -> str:
    """A face's family: its first declared name (the Latin one for the Korean fonts installed here)."""
    return face.families[0] if face.families else face.path.stem


def choose_heldout(families: Sequence[str], wanted: Sequence[str] = HELDOUT_FAMILIES) -> list[str]:
    """The families to hold out: ``wanted`` where installed, completed (to ``len(wanted)``) by the
    alphabetically last families not preferred by the pipeline, then by any. Deterministic."""
    available = sorted(set(families))
    chosen = [family for family in wanted if family in available]
    preferred = set(PREFERRED_FAMILIES["hangul"])
    stand_ins = [f for f in reversed(available) if f not in preferred] + list(reversed(available))
    for family in stand_ins:
        if len(chosen) >= len(wanted):
            break
        if family not in chosen:
            chosen.append(family)
    return chosen


def split_fonts(faces: Sequence[FontFace] | None = None) -> tuple[list[FontFace], list[FontFace]]:
    """(training faces, held-out faces) among the Hangul faces (default: every installed one).

    Raises ``RuntimeError`` when fewer than :data:`MIN_FAMILIES` families are available.
    """
    faces = list(faces) if faces is not None else faces_for_script("hangul")
    families = sorted({family_of(face) for face in faces})
    if len(families) < MIN_FAMILIES:
        raise RuntimeError(
            f"a held-out font split needs at least {MIN_FAMILIES} Hangul font families, found "
            f"{len(families)} ({families}); install e.g. fonts-nanum fonts-unfonts-core fonts-baekmuk"
        )
    heldout_families = set(choose_heldout(families))
    heldout_paths = {face.path for face in faces if family_of(face) in heldout_families}
    heldout = [face for face in faces if face.path in heldout_paths]
    train = [face for face in faces if face.path not in heldout_paths]
    return train, heldout


def training_bitmap_fonts(heldout: Sequence[FontFace]) -> list[Path]:
    """The installed bitmap strikes with Hangul (``xfonts-baekmuk``) whose family is not held out: the
    held-out Baekmuk Dotum is held out as pixels too."""
    held = {family_of(face) for face in heldout}
    return [path for path in installed_bitmap_fonts() if load_bitmap_font(path).family not in held]


def heldout_set(
    vertical: bool, count: int = 2000, seed: int = HELDOUT_SEED, max_chars: int | None = None
) -> list[tuple[np.ndarray, str]]:
    """The fixed test set: ``count`` samples rendered with the held-out fonts only; the same on every
    call with the same fonts installed. A shorter ``count`` is a prefix of a longer one.

    Drawn with each font's own letter spacing, as the set was first defined, so that its figures
    compare across training cycles, including those trained before letter spacing was varied."""
    _, heldout = split_fonts()
    lines = SyntheticLines(seed, fonts=heldout, vertical=vertical, max_chars=max_chars, letter_spacing=None)
    return [lines[index] for index in range(count)]


# --- metrics ---------------------------------------------------------------------------------------


def line_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of lines read exactly (0.0 for no lines)."""
    _check_lengths(predictions, references)
    if not references:
        return 0.0
    return sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)


def character_error_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Summed edit distance over summed reference length. With empty references only, 0.0 when every
    prediction is empty too, else the number of characters read in excess (each an insertion)."""
    _check_lengths(predictions, references)
    errors = sum(edit_distance(p, r) for p, r in zip(predictions, references, strict=True))
    return errors / max(1, sum(len(r) for r in references))


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


# --- batching and evaluation ---------------------------------------------------------------------


def batch_width(crops: Sequence[np.ndarray], cfg: RecognizerConfig, buckets: bool = True) -> int:
    """Width to pad a batch to: the smallest width bucket holding its widest crop (as served), or with
    ``buckets=False`` the widest resized crop rounded up to a multiple of 8 (capped at the last bucket)."""
    if buckets:
        return max(choose_width_bucket(c.shape[0], c.shape[1], cfg) for c in crops)
    widest = max(resized_width(c.shape[0], c.shape[1], cfg.height) for c in crops)
    return min(cfg.max_width, -(-widest // TIGHT_MULTIPLE) * TIGHT_MULTIPLE)


@torch.no_grad()
def read_lines(
    model: nn.Module,
    crops: Sequence[np.ndarray],
    cfg: RecognizerConfig,
    batch_size: int = 64,
    charset: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    buckets: bool = True,
) -> list[str]:
    """Texts read by ``model`` (put in eval mode, left as it was) from the crops, greedy CTC, in the
    crops' order. Each crop is padded to its own width (its bucket, as the server pads it; or with
    ``buckets=False`` its tight width) and batched with crops of that width: padded up to a wider
    batchmate's width, a line reads differently (the fifth training cycle's lines model lost 0.035 of its
    held-out line accuracy that way), and a served crop never is."""
    charset = list(charset) if charset is not None else load_charset(cfg.charset_file or "korean")
    was_training = model.training
    model.eval()
    read: list[list[str]] = []
    try:
        chunks = recognition_chunks(
            crops, cfg, batch_size, padded_width=lambda crop: batch_width([crop], cfg, buckets)
        )
        for width, indices in chunks:
            batch = recognition_batch([crops[i] for i in indices], cfg, width)
            probs = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()
            read.append([text for text, _ in ctc_greedy_decode(probs, charset)])
    finally:
        model.train(was_training)
    return in_crop_order(chunks, read, len(crops))


def evaluate(
    model: nn.Module,
    samples: Sequence[tuple[np.ndarray, str]],
    cfg: RecognizerConfig,
    batch_size: int = 64,
    charset: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    buckets: bool = True,
) -> dict[str, float]:
    """``{"line_accuracy", "cer", "count"}`` of ``model`` on ``(crop, text)`` samples."""
    crops = [crop for crop, _ in samples]
    references = [text for _, text in samples]
    predictions = read_lines(model, crops, cfg, batch_size, charset, device, buckets)
    return {
        "line_accuracy": line_accuracy(predictions, references),
        "cer": character_error_rate(predictions, references),
        "count": float(len(samples)),
    }


# --- command line ----------------------------------------------------------------------------------


def load_model(path: Path, cfg: RecognizerConfig, num_classes: int) -> nn.Module:
    """A checksum-verified export-ready checkpoint (``model.pt``), or a run's ``train_state.pt`` (a model
    of ``cfg``'s architecture)."""
    if path.name == "train_state.pt":
        model = build_model(cfg.architecture, num_classes)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
        return model.eval()
    return load_checkpoint(path).build()


def real_korean_crops(root: Path) -> list[tuple[np.ndarray, str]]:
    """The real benchmark set's Korean crops, as ``(image, text)``; none where the set has none."""
    if not (root / "gt.json").exists():
        return []
    crops = [s for s in by_kind(load_samples(root), "crop") if s.lang == "ko"]
    return [(cv2.imread(str(s.path)), "".join(s.lines)) for s in crops]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Held-out figures of a Korean recognizer")
    parser.add_argument("checkpoint", type=Path, help="model.pt, or a run's train_state.pt")
    parser.add_argument("--orientation", choices=("horizontal", "vertical"), required=True)
    parser.add_argument("--count", type=int, default=TEST_COUNT)
    parser.add_argument("--max-chars", type=int, default=TEST_MAX_CHARS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    cfg = KOREAN_RECOGNIZERS[args.orientation]
    charset = load_charset(cfg.charset_file or "korean")
    model = load_model(args.checkpoint, cfg, len(charset) + 1)
    figures: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    samples = heldout_set(args.orientation == "vertical", args.count, max_chars=args.max_chars)
    figures["heldout"] = evaluate(model, samples, cfg, charset=charset)
    figures["heldout"]["seconds"] = time.perf_counter() - start
    real = real_korean_crops(data_root())
    if real:
        figures["real_crops"] = evaluate(model, real, cfg, charset=charset)
    for name, result in figures.items():
        print(
            f"{name}: {int(result['count'])} lines, line accuracy {result['line_accuracy']:.4f}, "
            f"CER {result['cer']:.4f}"
        )
    if not real:
        print(f"real crops: none in Korean in {data_root()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
