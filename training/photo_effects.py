"""What photographs do to text that rendered lines lack: textured and photographic backgrounds, signage
styles (bold, outlined, shadowed, embossed), uneven light, shadows and glare, motion and defocus blur,
strong downscaling and heavy JPEG.

Every function draws only from the ``numpy.random.Generator`` it is given, so a sample stays a pure
function of its seed. Images are float32 BGR in 0..255 until :func:`camera` turns them into uint8.

Photographs come from the scikit-image wheel's bundled sample data, only those its documentation marks
as CC0 or public domain (:data:`PHOTOS`), read as files: nothing is downloaded, and the package itself
is never imported. Without it, backgrounds fall back to procedural textures alone.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

# scikit-image 0.26 sample images that carry no text, with the licence its docs state.
PHOTOS = {
    "astronaut.png": "public domain (NASA)",
    "brick.png": "CC0 (CC0Textures)",
    "camera.png": "CC0 (Lav Varshney)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "coins.png": "public domain",
    "grass.png": "CC0 (CC0Textures)",
    "gravel.png": "CC0 (CC0Textures)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "rocket.jpg": "public domain (SpaceX)",
}


def photo_folder() -> Path | None:
    """The scikit-image wheel's data folder, located without importing the package."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


@lru_cache(maxsize=1)
def load_photos() -> tuple[np.ndarray, ...]:
    """The :data:`PHOTOS` present, as BGR uint8 images (grey ones turned to three channels)."""
    folder = photo_folder()
    if folder is None:
        return ()
    photos = []
    for name in PHOTOS:
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is not None:
            photos.append(image)
    return tuple(photos)


def photo_patch(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray | None:
    """A random crop of a random photograph, scaled to ``shape``, flipped or not, colour-shifted and
    often out of focus (backgrounds behind text mostly are); None without photographs."""
    photos = load_photos()
    if not photos:
        return None
    photo = photos[int(rng.integers(len(photos)))]
    height, width = shape
    scale = rng.uniform(0.3, 1.0)
    crop_h = max(8, int(photo.shape[0] * scale * rng.uniform(0.2, 0.6)))
    crop_w = min(photo.shape[1], max(8, int(crop_h * width / max(height, 1))))
    crop_h = min(crop_h, photo.shape[0])
    top = int(rng.integers(0, photo.shape[0] - crop_h + 1))
    left = int(rng.integers(0, photo.shape[1] - crop_w + 1))
    patch = cv2.resize(photo[top : top + crop_h, left : left + crop_w], (width, height))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    patch = patch.astype(np.float32) * rng.uniform(0.6, 1.3, 3) + rng.uniform(-30, 30, 3)
    if rng.random() < 0.6:
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.8, 3.0))
    return np.clip(patch, 0, 255)


def noise_texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Paper, concrete or painted-metal grain: smooth noise at a few scales around a base colour."""
    height, width = shape
    base = rng.uniform(0, 255, 3).astype(np.float32)
    texture = np.zeros((height, width), np.float32)
    for cell, amplitude in ((rng.uniform(8, 40), 25.0), (rng.uniform(2, 6), 10.0), (1.0, 5.0)):
        small = rng.normal(0, 1, (max(1, int(height / cell)) + 1, max(1, int(width / cell)) + 1))
        texture += amplitude * rng.uniform(0.2, 1.0) * cv2.resize(small.astype(np.float32), (width, height))
    tint = rng.uniform(0.7, 1.0, 3).astype(np.float32)
    return np.clip(base[None, None] + texture[..., None] * tint[None, None], 0, 255)


def background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A photograph's patch (two thirds of the time, when there are photographs) or a texture."""
    patch = photo_patch(rng, shape) if rng.random() < 0.67 else None
    return patch if patch is not None else noise_texture(rng, shape)


def luma(bgr: np.ndarray) -> np.ndarray:
    return 0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] + 0.299 * bgr[..., 2]


def text_colour(rng: np.random.Generator, behind: np.ndarray, contrast: float) -> np.ndarray:
    """A BGR colour whose luma differs from the background's mean by at least ``contrast`` (the
    darker or the lighter side, whichever has room), with a random hue."""
    level = float(luma(behind).mean())
    dark = level - contrast >= 0 and (level + contrast > 255 or rng.random() < 0.6)
    target = (
        rng.uniform(0, max(level - contrast, 0)) if dark else rng.uniform(min(level + contrast, 255), 255)
    )
    colour = np.clip(target + rng.normal(0, 30, 3), 0, 255).astype(np.float32)
    shift = target - float(luma(colour[None, None])[0, 0])
    return np.clip(colour + shift, 0, 255)


def kernel_disk(radius: float) -> np.ndarray:
    size = 2 * int(np.ceil(radius)) + 1
    ys, xs = np.mgrid[:size, :size] - size // 2
    disk = (xs**2 + ys**2 <= radius**2).astype(np.float32)
    return disk / disk.sum()


def kernel_motion(length: float, angle: float) -> np.ndarray:
    size = 2 * int(np.ceil(length / 2)) + 1
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(
        kernel, (round(centre - dx), round(centre - dy)), (round(centre + dx), round(centre + dy)), (1.0,)
    )
    return kernel / max(float(kernel.sum()), 1.0)


def stylize(
    mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Signage styles on a float 0..1 text mask: bolder strokes, an outline ring, or a shadow/emboss
    offset. Returns (fill mask, second mask or None, its offset); the second mask is drawn first in
    another colour (the outline or the shadow)."""
    height = mask.shape[0]
    roll = rng.random()
    if roll < 0.25:  # bold, as signs and plates are
        radius = max(1, round(height * rng.uniform(0.01, 0.03)))
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        return mask, None, (0, 0)
    if roll < 0.4:  # outlined letters
        radius = max(1, round(height * rng.uniform(0.02, 0.05)))
        ring = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        return mask, ring, (0, 0)
    if roll < 0.55:  # drop shadow, or an emboss when the offset is small
        offset = max(1, round(height * rng.uniform(0.02, 0.08)))
        shadow = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.3, 2.0))
        return mask, shadow, (offset, offset * int(rng.choice((-1, 1))))
    return mask, None, (0, 0)


def shift(image: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """``image`` moved by (down, right) pixels, zero-filled."""
    matrix = np.array([[1, 0, offset[1]], [0, 1, offset[0]]], np.float32)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]))


def lighting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light (a smooth gain field), a cast shadow with a soft edge, and glare, each by chance."""
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        field = cv2.resize(rng.uniform(0.55, 1.35, (2, 3)).astype(np.float32), (width, height))
        image = image * field[..., None]
    if rng.random() < 0.2:
        ys, xs = np.mgrid[:height, :width].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        along = (xs - rng.uniform(0, width)) * np.cos(angle) + (ys - rng.uniform(0, height)) * np.sin(angle)
        edge = 0.5 * (1 + np.tanh(along / max(1.0, rng.uniform(1.0, 12.0))))  # a soft step
        image = image * (1 - rng.uniform(0.3, 0.65) * edge)[..., None]
    if rng.random() < 0.15:
        ys, xs = np.mgrid[:height, :width].astype(np.float32)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        spread = rng.uniform(0.3, 1.5) * height
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * spread**2))
        image = image + rng.uniform(60, 160) * blob[..., None]
    return np.clip(image, 0, 255)


def camera(image: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """What a camera and the pipeline do to a ``height``-pixel row: motion or defocus blur, text that was
    only 12-30 pixels high brought back up to ``height`` (as the pipeline upscales small crops), sensor
    noise and heavy JPEG. Returns uint8."""
    if rng.random() < 0.25:
        if rng.random() < 0.5:
            kernel = kernel_motion(rng.uniform(2, height * 0.1), rng.uniform(-0.3, 0.3))
        else:
            kernel = kernel_disk(rng.uniform(0.8, height * 0.05))
        image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        small_h = int(rng.integers(12, 31))
        small_w = max(1, round(image.shape[1] * small_h / height))
        interpolation = cv2.INTER_AREA if rng.random() < 0.5 else cv2.INTER_LINEAR
        image = cv2.resize(image, (small_w, small_h), interpolation=interpolation)
        image = cv2.resize(
            image, (max(1, round(small_w * height / small_h)), height), interpolation=cv2.INTER_LINEAR
        )
    if rng.random() < 0.5:
        image = image + rng.normal(0, rng.uniform(2, 14), image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 70))])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image
