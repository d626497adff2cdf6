"""Photo-like effects: licensed photographs only, shapes and ranges kept, deterministic per seed."""

from __future__ import annotations

import numpy as np
import pytest

from training import photo_effects


def test_every_photograph_read_is_one_the_licence_list_names() -> None:
    folder = photo_effects.photo_folder()
    if folder is None:
        pytest.skip("scikit-image's sample photographs are not installed")
    assert all((folder / name).exists() for name in photo_effects.PHOTOS)
    assert len(photo_effects.load_photos()) == len(photo_effects.PHOTOS)


@pytest.mark.parametrize("shape", [(48, 200), (30, 31), (60, 900)])
def test_backgrounds_fill_the_shape_in_range(shape: tuple[int, int]) -> None:
    for seed in range(6):
        canvas = photo_effects.background(np.random.default_rng(seed), shape)
        assert canvas.shape == (*shape, 3) and canvas.min() >= 0 and canvas.max() <= 255


def test_text_colour_keeps_its_contrast_with_the_background() -> None:
    rng = np.random.default_rng(2)
    for level in (0.0, 60.0, 128.0, 200.0, 255.0):
        behind = np.full((4, 4, 3), level, np.float32)
        colour = photo_effects.text_colour(rng, behind, 90)
        assert abs(float(photo_effects.luma(colour[None, None])[0, 0]) - level) >= 89


def test_camera_returns_a_uint8_row_of_the_height_the_same_for_a_seed() -> None:
    image = np.random.default_rng(0).uniform(0, 255, (48, 160, 3)).astype(np.float32)
    first = photo_effects.camera(image, np.random.default_rng(7), 48)
    again = photo_effects.camera(image, np.random.default_rng(7), 48)
    assert first.dtype == np.uint8 and first.shape[0] == 48 and first.tobytes() == again.tobytes()


def test_styles_keep_the_fill_inside_the_frame() -> None:
    mask = np.zeros((48, 120), np.float32)
    mask[10:38, 10:110] = 1.0
    for seed in range(20):
        fill, second, offset = photo_effects.stylize(mask, np.random.default_rng(seed))
        assert fill.shape == mask.shape and fill.min() >= 0 and fill.max() <= 1
        assert second is None or second.shape == mask.shape
        assert isinstance(offset, tuple) and len(offset) == 2
