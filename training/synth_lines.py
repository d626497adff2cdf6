"""Synthetic text-line crops for the Korean recognizers, as the pipeline hands crops to them.

A sample is ``(image, text)``: a BGR uint8 ``[height, W, 3]`` row and its label. Vertical samples are
columns rendered top to bottom and then turned with :func:`ocrstack.pipeline.geometry.rotate_to_horizontal`,
exactly what the pipeline does to a vertical crop before recognition.

Sample ``i`` of a generator is drawn from its own ``Generator([seed, i])``, so it is the same image
whatever order or worker asks for it.

The augmentations imitate what detector crops show: loose and tight margins, a few degrees of residual
tilt and a little perspective, condensed and expanded glyphs (scaling along the line), letter spacing
from slightly tight to loose (half the samples keep the font's own), low resolution, blur, sensor noise
and JPEG artefacts, on plain, coloured and gradient backgrounds, dark-on-light or light-on-dark.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from ocrstack.pipeline.geometry import rotate_to_horizontal
from ocrstack.synth.bitmap_fonts import BitmapFont, bitmap_text_mask, installed_bitmap_fonts, load_bitmap_font
from ocrstack.synth.fonts import FontFace, faces_for_script, font_codepoints
from ocrstack.synth.render import load_font, text_mask
from training import photo_effects
from training.corpus import PLATE_REGIONS, Corpus, default_corpus

MIN_LUMA_CONTRAST = 90.0  # of 255, between text colour and every background colour
MAX_TRIES = 50
# Extra room between characters, in ems. Wider than this and the gap inside a word passes for the
# space between words in many fonts, which the label could no longer tell apart.
LETTER_SPACING = (-0.05, 0.25)
# Of the photo-like lines: plates whose region name is printed as two small syllables stacked in one
# cell at the left edge (older commercial plates), and lines drawn as a screen draws small UI text.
STACKED_REGION_SHARE = 0.5
SCREEN_SHARE = 0.15
# Screen text as small as UI buttons and menus set it: rows of this many pixels, margins included
# (the text itself 9-29 pixels high).
SCREEN_ROW_PX = (16, 31)
# Of the photo-like horizontal lines, when bitmap strikes are given: small text drawn with a bitmap font's
# own pixel glyphs (``ocrstack.synth.bitmap_fonts``), as Korean web pages and forms set it at 10-16 px;
# most of them at the small sizes screens use most.
BITMAP_SHARE = 0.1
SMALL_STRIKE_PX = 16
SMALL_STRIKE_SHARE = 0.75


def _luma(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def pick_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text, background start, background end) RGB colours; the two background colours differ for a
    gradient and each keeps at least :data:`MIN_LUMA_CONTRAST` from the text."""
    mode = rng.random()
    for _ in range(MAX_TRIES):
        if mode < 0.6:  # dark on light: print, most signs
            fg, bg = rng.uniform(0, 90, 3), 255 - rng.uniform(0, 60, 3)
        elif mode < 0.85:  # light on dark
            fg, bg = 255 - rng.uniform(0, 60, 3), rng.uniform(0, 110, 3)
        else:  # any colours
            fg, bg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        bg_end = np.clip(bg + rng.normal(0, 35, 3), 0, 255) if rng.random() < 0.3 else bg
        if min(abs(_luma(fg) - _luma(bg)), abs(_luma(fg) - _luma(bg_end))) >= MIN_LUMA_CONTRAST:
            return fg, bg, bg_end
    return np.zeros(3), np.full(3, 255.0), np.full(3, 255.0)


def gradient_background(shape: tuple[int, int], start: np.ndarray, end: np.ndarray, rng: np.random.Generator):
    """A float32 BGR canvas: a linear gradient from ``start`` to ``end`` in a random direction."""
    height, width = shape
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    rgb = start[None, None] + ramp[..., None] * (end - start)[None, None]
    return rgb[..., ::-1].astype(np.float32)


def _warp(image: np.ndarray, rng: np.random.Generator, across: int) -> np.ndarray:
    """A tilt of a few degrees and a small perspective jitter; the output is the bounding box of the
    warped image, as a detector's axis-aligned crop of a slightly tilted line would be."""
    height, width = image.shape[:2]
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    jitter = rng.uniform(-0.06, 0.06, (4, 2)).astype(np.float32) * across
    # Detector crops are rectified along the line, so a long line keeps less tilt than a short one:
    # its ends move across by at most about a fifth of the line's height.
    limit = min(np.deg2rad(3.0), np.arctan(0.2 * across / max(height, width)))
    angle = rng.uniform(-limit, limit)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    centre = corners.mean(axis=0)
    moved = (corners - centre) @ rotation.T + centre + jitter
    moved -= moved.min(axis=0)
    size = np.ceil(moved.max(axis=0)).astype(int)
    matrix = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    return cv2.warpPerspective(
        image, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low resolution, blur, noise and JPEG artefacts, each with its own probability."""
    height, width = image.shape[:2]
    if rng.random() < 0.2:
        scale = rng.uniform(0.4, 0.8)
        small = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))))
        image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.4:
        noise = rng.normal(0, rng.uniform(2, 10), image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        quality = int(rng.integers(30, 91))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image


class SyntheticLines:
    """Endless ``(image, text)`` samples; ``gen[i]`` is sample ``i`` and iteration yields 0, 1, 2...

    ``fonts``: faces to draw with (default: every face covering Hangul); each sample uses one that
    covers all of its text. Vertical samples get shorter texts by default, as columns are short.
    ``letter_spacing``: the range of extra spacing between characters, in ems, for the half of the
    samples that get any; ``None`` draws every sample with its font's own spacing.
    ``bitmap_fonts``: PCF strikes (:func:`ocrstack.synth.bitmap_fonts.installed_bitmap_fonts`) that draw
    a share of the photo-like horizontal lines as screens draw small text (:data:`BITMAP_SHARE`).
    """

    def __init__(
        self,
        seed: int,
        fonts: Sequence[FontFace] | None = None,
        vertical: bool = False,
        height: int = 48,
        min_chars: int = 1,
        max_chars: int | None = None,
        corpus: Corpus | None = None,
        letter_spacing: tuple[float, float] | None = LETTER_SPACING,
        photo: float = 0.0,
        bitmap_fonts: Sequence[str | Path] = (),
    ) -> None:
        if not 0.0 <= photo <= 1.0:
            raise ValueError(f"photo is a share of the samples, 0 to 1: {photo}")
        self.seed, self.vertical, self.height, self.photo = seed, vertical, height, photo
        self.letter_spacing = letter_spacing
        self.fonts = list(fonts) if fonts is not None else faces_for_script("hangul")
        if not self.fonts:
            raise ValueError("no fonts to draw with")
        self.min_chars = min_chars
        self.max_chars = max_chars or (12 if vertical else 25)
        self.corpus = corpus or default_corpus()
        self._coverage = {face.path: font_codepoints(Path(face.path)) for face in self.fonts}
        self.bitmap_fonts = [load_bitmap_font(path) for path in bitmap_fonts]

    def fonts_for(self, text: str) -> list[FontFace]:
        codes = {ord(char) for char in text}
        return [face for face in self.fonts if codes <= self._coverage[face.path]]

    def __iter__(self) -> Iterator[tuple[np.ndarray, str]]:
        index = 0
        while True:
            yield self[index]
            index += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        rng = np.random.default_rng([self.seed, index])
        # Drawn first and only when asked for, so that generators without photo-like samples (the
        # held-out set) draw exactly what they drew before there were any.
        photo_like = self.photo > 0 and rng.random() < self.photo
        for _ in range(MAX_TRIES):
            if photo_like:
                text = self.corpus.sample_line(rng, self.min_chars, self.max_chars)
            else:
                text = self.corpus.sample_text(rng, self.min_chars, self.max_chars)
            faces = self.fonts_for(text)
            if not faces:
                continue
            face = faces[int(rng.integers(len(faces)))]
            tracking = 0.0
            if self.letter_spacing is not None and rng.random() < 0.5:
                tracking = float(rng.uniform(*self.letter_spacing))
            if photo_like and self._draws_bitmap(rng):
                bitmap = self._bitmap_line(text, face, rng)
                if bitmap is not None:
                    return bitmap, text
            try:
                if photo_like and self._stacks_region(text, rng):
                    mask = self._stacked_region_mask(text, face, tracking, rng)
                else:
                    mask = text_mask(text, face.path, self.height, self.vertical, face.index, tracking)
            except ValueError:  # draws no ink
                continue
            compose = self._compose_photo if photo_like else self._compose
            return compose(mask, rng), text
        raise RuntimeError(f"no drawable text in {MAX_TRIES} tries (sample {index}, seed {self.seed})")

    def _draws_bitmap(self, rng: np.random.Generator) -> bool:
        return bool(self.bitmap_fonts) and not self.vertical and rng.random() < BITMAP_SHARE

    def _bitmap_line(self, text: str, face: FontFace, rng: np.random.Generator) -> np.ndarray | None:
        """``text`` set in a bitmap strike that has its Hangul (the Latin letters and digits in ``face``,
        without anti-aliasing, at the strike's size) on a flat or gradient fill with a few pixels of
        margin, brought up to ``height``; ``None`` when no strike covers the text."""
        wide = {char for char in text if ord(char) >= 0x1100}
        strikes = [font for font in self.bitmap_fonts if wide <= font.glyphs.keys()]
        small = [font for font in strikes if font.pixel_size <= SMALL_STRIKE_PX]
        if small and rng.random() < SMALL_STRIKE_SHARE:
            strikes = small
        if not strikes:
            return None
        font: BitmapFont = strikes[int(rng.integers(len(strikes)))]
        fallback = load_font(face.path, font.pixel_size, face.index)
        tracking = int(rng.random() < 0.2)
        mask = bitmap_text_mask(text, font, tracking, fallback)
        if not mask.any():
            return None
        margins = [(int(rng.integers(0, 6)), int(rng.integers(0, 6))), (int(rng.integers(0, 9)),) * 2]
        pixels = (np.pad(mask, margins) > 0).astype(np.float32)[..., None]
        return self._screen_row(pixels, rng)

    def _stacks_region(self, text: str, rng: np.random.Generator) -> bool:
        """Whether a plate line ("서울12가3456") is drawn with its region name stacked in one cell."""
        region, rest = text[:2], text[2:]
        is_plate = region in PLATE_REGIONS and rest[:1].isdigit()
        return not self.vertical and is_plate and rng.random() < STACKED_REGION_SHARE

    def _stacked_region_mask(
        self, text: str, face: FontFace, tracking: float, rng: np.random.Generator
    ) -> np.ndarray:
        """A plate's mask with its two-syllable region name stacked in one cell at the left, each syllable
        half the line's height and squat, as older plates print it; the label keeps the reading order."""
        column = text_mask(text[:2], face.path, self.height, True, face.index)
        cell_width = max(4, round(self.height * rng.uniform(0.35, 0.9)))
        cell = cv2.resize(column, (cell_width, self.height), interpolation=cv2.INTER_AREA)
        rest = text_mask(text[2:], face.path, self.height, False, face.index, tracking)
        gap = np.zeros((self.height, round(self.height * rng.uniform(0.05, 0.2))), np.uint8)
        return np.hstack([cell, gap, rest])

    def _compose(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mask rendered at full size -> coloured, margined, warped and degraded row of ``height``."""
        mask = self._place(mask, rng)
        fg, bg, bg_end = pick_colors(rng)
        canvas = gradient_background((mask.shape[0], mask.shape[1]), bg, bg_end, rng)
        alpha = mask[..., None]
        image = canvas * (1 - alpha) + fg[::-1].astype(np.float32) * alpha
        return degrade(self._to_row(np.clip(np.rint(image), 0, 255).astype(np.uint8), rng), rng)

    def _compose_photo(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Like :meth:`_compose`, as a photograph shows a line: a signage style on a photographic,
        textured or plain panel background, uneven light, then the camera's blur, scale and JPEG; or as a
        screen shows small UI text (:meth:`_compose_screen`)."""
        mask = self._place(mask, rng)
        if rng.random() < SCREEN_SHARE:
            return self._compose_screen(mask, rng)
        shape = (mask.shape[0], mask.shape[1])
        if rng.random() < 0.35:  # a sign's or a plate's panel
            _, bg, bg_end = pick_colors(rng)
            canvas = gradient_background(shape, bg, bg_end, rng)
        else:
            canvas = photo_effects.background(rng, shape)
        fill, second, offset = photo_effects.stylize(mask, rng)
        fg = photo_effects.text_colour(rng, canvas, rng.uniform(80, 150))
        image = canvas
        if second is not None:
            # An outline contrasts with the fill; a shadow is darker than what it falls on.
            other = photo_effects.text_colour(rng, fg[None, None], 90) if offset == (0, 0) else canvas * 0.3
            moved = photo_effects.shift(second, offset)[..., None]
            image = image * (1 - moved) + other * moved
        alpha = fill[..., None]
        image = photo_effects.lighting(image * (1 - alpha) + fg * alpha, rng)
        row = self._to_row(np.clip(np.rint(image), 0, 255).astype(np.uint8), rng)
        return photo_effects.camera(row.astype(np.float32), rng, self.height)

    def _compose_screen(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Small UI text as a screen draws it (buttons, menus, banners): the line set in a row of 16-30
        pixels without anti-aliasing, so strokes are whole pixels, one or two wide, on a flat or
        gradient fill; then brought up to ``height`` as the pipeline upscales a small crop."""
        small_h = int(rng.integers(*SCREEN_ROW_PX))
        small_w = max(1, round(mask.shape[1] * small_h / mask.shape[0]))
        small = cv2.resize(mask, (small_w, small_h), interpolation=cv2.INTER_AREA)
        pixels = (small >= rng.uniform(0.25, 0.5)).astype(np.float32)[..., None]
        return self._screen_row(pixels, rng)

    def _screen_row(self, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Whole-pixel text (``float [h, w, 1]``, 1 where ink) coloured on a screen's fill, turned if
        vertical, upscaled to ``height`` as the pipeline upscales a small crop, sometimes saved as JPEG."""
        fg, bg, bg_end = pick_colors(rng)
        canvas = gradient_background((pixels.shape[0], pixels.shape[1]), bg, bg_end, rng)
        image = np.clip(np.rint(canvas * (1 - pixels) + fg[::-1].astype(np.float32) * pixels), 0, 255)
        if self.vertical:
            image = rotate_to_horizontal(image)
        width = max(1, round(image.shape[1] * self.height / image.shape[0]))
        interpolation = cv2.INTER_LINEAR if rng.random() < 0.7 else cv2.INTER_CUBIC
        row = np.clip(cv2.resize(image, (width, self.height), interpolation=interpolation), 0, 255)
        row = row.astype(np.uint8)
        if rng.random() < 0.5:  # screenshots saved as JPEG
            quality = int(rng.integers(50, 96))
            ok, encoded = cv2.imencode(".jpg", row, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                row = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        return row

    def _place(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The mask scaled to a text size and stretch, with margins: float 0..1 across ``height``."""
        across_axis = 1 if self.vertical else 0
        along_axis = 1 - across_axis
        # Render once at full size and shrink: a handful of font sizes stay cached instead of dozens.
        text_px = max(4, round(self.height * rng.uniform(0.55, 0.95)))
        along = max(1, round(mask.shape[along_axis] * text_px / self.height * rng.uniform(0.8, 1.2)))
        size = (along, text_px) if along_axis == 1 else (text_px, along)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        free = self.height - text_px
        before = int(rng.integers(0, free + 1))
        margin = int(self.height * (rng.uniform(0, 0.1) if rng.random() < 0.5 else rng.uniform(0.1, 0.6)))
        lead, trail = (int(rng.integers(0, margin + 1)) for _ in range(2))
        pads = [(before, free - before), (lead, trail)]
        if self.vertical:
            pads.reverse()
        return np.pad(mask, pads)

    def _to_row(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A composed uint8 image warped as a detector crop is, turned if vertical, ``height`` high."""
        image = _warp(image, rng, self.height)
        if self.vertical:
            image = rotate_to_horizontal(image)
        width = max(1, round(image.shape[1] * self.height / image.shape[0]))
        return cv2.resize(image, (width, self.height), interpolation=cv2.INTER_AREA)


def measure_lines_per_second(
    n: int = 300,
    vertical: bool = False,
    seed: int = 0,
    photo: float = 0.0,
    bitmap_fonts: Sequence[str | Path] = (),
) -> float:
    """Lines per second of one generator on one core (OpenCV held to one thread)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        lines = SyntheticLines(seed, vertical=vertical, photo=photo, bitmap_fonts=bitmap_fonts)
        lines[0]  # font loading and coverage out of the timing
        start = time.perf_counter()
        for index in range(1, n + 1):
            lines[index]
        return n / (time.perf_counter() - start)
    finally:
        cv2.setNumThreads(threads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write sample synthetic lines or measure throughput")
    parser.add_argument("--out", type=Path, help="folder for PNG samples and labels.txt")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vertical", action="store_true")
    parser.add_argument("--benchmark", action="store_true")
    parser.add_argument("--photo", type=float, default=0.0, help="share of photo-like lines")
    parser.add_argument(
        "--bitmap-fonts", action="store_true", help="set some photo-like lines in bitmap strikes"
    )
    args = parser.parse_args(argv)
    strikes = installed_bitmap_fonts() if args.bitmap_fonts else []
    if args.benchmark:
        rate = measure_lines_per_second(args.count, args.vertical, args.seed, args.photo, strikes)
        kind = "vertical" if args.vertical else "horizontal"
        shares = f"photo-like share {args.photo}, {len(strikes)} bitmap strikes"
        print(f"{rate:.1f} lines/s on one core ({kind}, {shares})")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        lines = SyntheticLines(args.seed, vertical=args.vertical, photo=args.photo, bitmap_fonts=strikes)
        labels = []
        for index in range(args.count):
            image, text = lines[index]
            cv2.imwrite(str(args.out / f"{index:05d}.png"), image)
            labels.append(f"{index:05d}.png\t{text}")
        (args.out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
