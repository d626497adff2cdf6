"""Paragraphs of vertical pages: the pipeline's reading order, then the gateway's grouping."""

from __future__ import annotations

import numpy as np

from gateway.layout import join_lines, orientation_of, paragraphs, shared_orientation
from ocrstack.pipeline.reading_order import reading_order


def box(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def read_page(layout: list[np.ndarray], texts: list[str]) -> tuple[list[str], list[list[str]]]:
    """Lines shuffled, ordered as the pipeline orders them, grouped as the gateway groups them: the
    ordered texts and each paragraph's texts."""
    shuffled = np.random.default_rng(5).permutation(len(layout))
    quads = np.stack(layout)[shuffled]
    ordered = quads[reading_order(quads)]
    by_box = {np.asarray(q).tobytes(): t for q, t in zip(np.stack(layout), texts, strict=True)}
    ordered_texts = [by_box[q.tobytes()] for q in ordered]
    groups = paragraphs(ordered, [orientation_of(q) for q in ordered])
    return ordered_texts, [[ordered_texts[i] for i in group] for group in groups]


def test_a_vertical_page_is_one_paragraph_read_right_to_left() -> None:
    layout = [box(400, 130, 40, 270), box(345, 100, 40, 300), box(290, 100, 40, 300), box(235, 100, 40, 120)]
    ordered, groups = read_page(layout, ["一", "二", "三", "四"])
    assert ordered == ["一", "二", "三", "四"]
    assert groups == [["一", "二", "三", "四"]]
    assert join_lines(groups[0], "zh") == "一二三四"


def test_a_one_character_last_column_continues_its_paragraph() -> None:
    layout = [box(400, 100, 40, 300), box(345, 100, 40, 300), box(290, 100, 40, 40)]
    assert orientation_of(layout[2]) == "horizontal"  # as the pipeline reads it
    _, groups = read_page(layout, ["가나다라", "마바사아", "자"])
    assert groups == [["가나다라", "마바사아", "자"]]


def test_title_block_and_caption_are_separate_paragraphs_in_page_order() -> None:
    layout = [
        box(230, 20, 250, 40),  # title
        box(400, 100, 40, 300),
        box(345, 100, 40, 300),
        box(230, 430, 250, 30),  # caption
    ]
    ordered, groups = read_page(layout, ["title", "right", "left", "caption"])
    assert ordered == ["title", "right", "left", "caption"]
    assert groups == [["title"], ["right", "left"], ["caption"]]


def test_columns_far_apart_are_separate_paragraphs() -> None:
    layout = [box(500, 100, 40, 300), box(100, 100, 40, 300)]
    _, groups = read_page(layout, ["right", "left"])
    assert groups == [["right"], ["left"]]


def test_shared_orientation() -> None:
    column, square, line = box(0, 0, 40, 300), box(0, 0, 40, 40), box(0, 0, 300, 40)
    assert shared_orientation(line, line, ("horizontal", "horizontal")) == "horizontal"
    assert shared_orientation(column, square, ("vertical", "horizontal")) == "vertical"
    assert shared_orientation(square, column, ("horizontal", "vertical")) == "vertical"
    assert shared_orientation(column, line, ("vertical", "horizontal")) is None
