"""Rendered Korean scenes: deterministic, both orientations, ground truth where the ink is."""

from __future__ import annotations

import numpy as np
import pytest

from training.charset import load_charset, out_of_charset
from training.synth_scenes import SCENE_SIZE, KoreanScenes, SceneLine

N = 12


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, list[SceneLine]]]:
    generator = KoreanScenes(5)
    return [generator[i] for i in range(N)]


def test_same_seed_same_scene(scenes) -> None:
    image, lines = KoreanScenes(5)[3]
    assert image.tobytes() == scenes[3][0].tobytes()
    assert [line.text for line in lines] == [line.text for line in scenes[3][1]]
    assert KoreanScenes(6)[3][0].tobytes() != image.tobytes()


def test_scenes_hold_lines_and_columns_inside_the_image(scenes) -> None:
    width, height = SCENE_SIZE
    charset = set(load_charset("korean"))
    kinds = set()
    for image, lines in scenes:
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        assert lines
        for line in lines:
            kinds.add(line.vertical)
            assert line.text and not out_of_charset(line.text, charset)
            assert (line.quad >= -1).all() and (line.quad[:, 0] <= width + 1).all()
            assert (line.quad[:, 1] <= height + 1).all()
            if line.vertical:
                assert " " not in line.text
    assert kinds == {False, True}


def test_text_differs_from_the_background_inside_each_box(scenes) -> None:
    """Ink is drawn where the truth says: a box's pixels spread far more than the page around it."""
    for image, lines in scenes[:4]:
        grey = image.mean(axis=2)
        for line in lines:
            x0, y0 = np.floor(line.quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(line.quad.max(axis=0)).astype(int)
            inside = grey[max(y0, 0) : y1, max(x0, 0) : x1]
            assert inside.std() > 20, (line.text, inside.std())
