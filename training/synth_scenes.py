"""Rendered Korean scenes for the detector: posters and signs with horizontal lines and vertical columns.

A scene is ``(image, truth)``: a BGR uint8 image and one :class:`SceneLine` per line or column drawn, with
its tight quad (``ocrstack.synth.render`` conventions), text and orientation. Scene ``i`` of a seed is a
pure function of ``(seed, i)``.

What varies: the number of columns (0-3, right to left, as Korean vertical text runs) and lines (1-6), their
sizes (20-60 px across), fonts (every installed Hangul face that covers the text), text and background
colours (dark on light, light on dark, any colours, keeping contrast), backgrounds (flat, gradients,
blurred blotches, fine texture), a few degrees of tilt on some lines, and the degradations the recognizer's
training crops get (blur, noise, low resolution, JPEG).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocrstack.synth.fonts import FontFace, faces_for_script, font_codepoints
from ocrstack.synth.render import LineSpec, render_page
from training.corpus import Corpus, default_corpus
from training.synth_lines import degrade, gradient_background, pick_colors

SCENE_SIZE = (960, 720)  # width, height
MAX_TRIES = 30


@dataclass(frozen=True)
class SceneLine:
    quad: np.ndarray  # float32 [4, 2], original pixels, reading order corners
    text: str
    vertical: bool


def textured_background(
    size: tuple[int, int], start: np.ndarray, end: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A BGR uint8 canvas of ``size`` (width, height): a gradient between two colours, with soft
    blotches and a fine texture of small amplitude, so the text colour keeps its contrast everywhere."""
    width, height = size
    canvas = gradient_background((height, width), start, end, rng)
    if rng.random() < 0.5:  # large soft blotches: shadows, paper, walls
        small = rng.normal(0, 1, (max(2, height // 96), max(2, width // 96))).astype(np.float32)
        blotches = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        canvas += blotches[..., None] * rng.uniform(4, 14)
    if rng.random() < 0.4:  # fine texture: grain of paper or concrete
        canvas += cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 1.0)[
            ..., None
        ] * rng.uniform(3, 8)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


class KoreanScenes:
    """``scenes[i]`` -> ``(image, [SceneLine, ...])``; see the module docstring."""

    def __init__(
        self,
        seed: int,
        fonts: list[FontFace] | None = None,
        size: tuple[int, int] = SCENE_SIZE,
        corpus: Corpus | None = None,
    ) -> None:
        self.seed, self.size = seed, size
        self.fonts = fonts if fonts is not None else faces_for_script("hangul")
        if not self.fonts:
            raise ValueError("no Hangul fonts installed")
        self.corpus = corpus or default_corpus()
        self._coverage = {face.path: font_codepoints(Path(face.path)) for face in self.fonts}

    def _face_for(self, text: str, rng: np.random.Generator) -> FontFace | None:
        codes = {ord(char) for char in text}
        faces = [face for face in self.fonts if codes <= self._coverage[face.path]]
        return faces[int(rng.integers(len(faces)))] if faces else None

    def _lines(self, rng: np.random.Generator, fg: tuple[int, int, int]) -> list[LineSpec]:
        specs = []
        columns, rows = int(rng.integers(0, 4)), int(rng.integers(1, 7))
        for vertical, count in ((True, columns), (False, rows)):
            for _ in range(count):
                # Columns are short runs of Korean (no spaces: they would leave gaps inside a column).
                text = (
                    self.corpus.sample_text(rng, 2, 8).replace(" ", "")
                    if vertical
                    else self.corpus.sample_text(rng, 2, 16)
                )
                face = self._face_for(text, rng)
                if face is None:
                    continue
                tilted = not vertical and rng.random() < 0.3
                specs.append(
                    LineSpec(
                        text=text,
                        font_path=face.path,
                        font_index=face.index,
                        height=int(rng.integers(20, 61)),
                        color=fg,
                        vertical=vertical,
                        angle=float(rng.uniform(-4, 4)) if tilted else 0.0,
                    )
                )
        return specs

    def __getitem__(self, index: int) -> tuple[np.ndarray, list[SceneLine]]:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(MAX_TRIES):
            fg, bg, bg_end = pick_colors(rng)
            specs = self._lines(rng, tuple(int(c) for c in fg))  # type: ignore[arg-type]
            if not specs:
                continue
            background = textured_background(self.size, bg, bg_end, rng)
            try:
                image, truth = render_page(specs, self.size, background, seed=int(rng.integers(1 << 31)))
            except ValueError:  # the lines drawn do not fit this page: draw others
                continue
            lines = [
                SceneLine(quad, text, spec.vertical) for (quad, text), spec in zip(truth, specs, strict=True)
            ]
            return degrade(image, rng), lines
        raise RuntimeError(f"no scene fits in {MAX_TRIES} tries (scene {index}, seed {self.seed})")
