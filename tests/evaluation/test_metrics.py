"""Every metric on inputs crafted so that the right answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ocrstack.evaluation.dataset import TextBox
from ocrstack.evaluation.metrics import (
    Counts,
    IcdarCounts,
    character_counts,
    edit_distance,
    evaluate_icdar,
    greedy_match,
    multiset_counts,
    normalize_text,
    normalized_edit_similarity,
    polygon_iou,
    score_crop,
    summarize_crops,
    to_polygon,
    token_counts,
    tokenize,
    total,
)


def rect(x0: float, y0: float, x1: float, y1: float, text: str = "word") -> TextBox:
    """Axis-aligned box, clockwise from the top-left corner like ICDAR quads."""
    points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    return TextBox(points=points, text=text)


# ------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", "helloworld"),
        ("ＡＢＣ１２３", "abc123"),  # full-width Latin letters and digits fold to ASCII
        ("电话：15952301928", "电话15952301928"),  # full-width colon is punctuation
        ("（45元／每公斤，100公斤起订）", "45元每公斤100公斤起订"),
        ("【品牌】：代加工", "品牌代加工"),
        ("03/09/2009", "03092009"),
        ("a\u3000b\tc\nd", "abcd"),  # ideographic space, tab and newline
        ("U$+<=>|~", "u"),  # ASCII symbols count as punctuation
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_keeps_non_punctuation_symbols() -> None:
    # "↓" (arrow) and "β" (letter) carry meaning in the pages' text; NFKC turns the full-width yen into ¥.
    assert normalize_text("58.9↓ β ￥73") == "589↓β¥73"


def test_tokenize_drops_punctuation_only_tokens() -> None:
    assert tokenize("ALT 谷丙转氨酶 25.6 — U/L") == ["alt", "谷丙转氨酶", "256", "ul"]


# ------------------------------------------------------------------------------------ edit distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("", "abc", 3), ("kitten", "sitting", 3), ("hotel", "motel", 1)],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_normalized_edit_similarity() -> None:
    assert normalized_edit_similarity("", "") == 1.0
    assert normalized_edit_similarity("abc", "") == 0.0
    assert normalized_edit_similarity("motel", "hotel") == pytest.approx(0.8)


# ------------------------------------------------------------------------------------------- counts


def test_counts_perfect_and_empty() -> None:
    assert Counts(3, 3, 3).hmean == 1.0
    # Nothing expected, nothing predicted: nothing was missed and nothing was wrong.
    assert (Counts().precision, Counts().recall, Counts().hmean) == (1.0, 1.0, 1.0)
    # Nothing predicted while something was expected earns no free precision.
    assert (Counts(0, 0, 4).precision, Counts(0, 0, 4).recall, Counts(0, 0, 4).hmean) == (0.0, 0.0, 0.0)
    # Predictions with nothing to find are all false positives.
    assert (Counts(0, 2, 0).precision, Counts(0, 2, 0).recall) == (0.0, 1.0)


def test_counts_sum_is_micro_average() -> None:
    summed = total([Counts(1, 1, 4), Counts(3, 9, 4)])
    assert summed == Counts(4, 10, 8)
    assert summed.precision == pytest.approx(0.4)
    assert summed.recall == pytest.approx(0.5)
    assert summed.hmean == pytest.approx(2 * 0.4 * 0.5 / 0.9)


def test_multiset_counts_respects_multiplicity() -> None:
    # "a" twice predicted but once expected matches once; "c" is missed, "d" is extra.
    assert multiset_counts("aabd", "abc") == Counts(matched=2, predicted=4, expected=3)


# ------------------------------------------------------------------------------------------- geometry


def test_polygon_iou_half_overlap() -> None:
    a, b = to_polygon(rect(0, 0, 10, 10).points), to_polygon(rect(5, 0, 15, 10).points)
    assert polygon_iou(a, b) == pytest.approx(50 / 150)


def test_self_intersecting_quad_is_repaired() -> None:
    bow_tie = to_polygon([[0, 0], [10, 10], [10, 0], [0, 10]])
    assert bow_tie.is_valid


def test_greedy_match_prefers_highest_iou_and_is_one_to_one() -> None:
    # Row 0 overlaps both columns; the best pair overall (row 1, col 0) is taken first, so row 0
    # falls back to col 1.
    ious = np.array([[0.7, 0.6], [0.9, 0.0]])
    assert sorted(greedy_match(ious)) == [(0, 1), (1, 0)]


def test_greedy_match_threshold_is_inclusive() -> None:
    assert greedy_match(np.array([[0.5]])) == [(0, 0)]
    assert greedy_match(np.array([[0.4999]])) == []


# ---------------------------------------------------------------------------------------------- ICDAR


def test_icdar_perfect_match() -> None:
    gt = [rect(0, 0, 100, 20, "Hello"), rect(0, 40, 100, 60, "World")]
    result = evaluate_icdar(gt, [rect(1, 1, 99, 19, "hello"), rect(0, 40, 100, 60, "WORLD!")])
    assert result.detection == Counts(2, 2, 2)
    assert result.end_to_end == Counts(2, 2, 2)


def test_icdar_no_detections() -> None:
    result = evaluate_icdar([rect(0, 0, 100, 20)], [])
    assert result.detection == Counts(0, 0, 1)
    assert result.detection.hmean == 0.0


def test_icdar_partial_overlap_below_threshold_does_not_match() -> None:
    # IoU = 40 / 160 = 0.25.
    result = evaluate_icdar([rect(0, 0, 100, 10)], [rect(60, 0, 160, 10)])
    assert result.detection == Counts(0, 1, 1)


def test_icdar_duplicate_detections_match_once() -> None:
    gt = [rect(0, 0, 100, 20, "exit")]
    result = evaluate_icdar(gt, [rect(0, 0, 100, 20, "exit"), rect(2, 0, 100, 20, "exit")])
    assert result.detection == Counts(matched=1, predicted=2, expected=1)
    assert result.detection.precision == 0.5
    assert result.end_to_end == Counts(1, 2, 1)


def test_icdar_dont_care_ground_truth_is_not_counted() -> None:
    gt = [rect(0, 0, 100, 20, "###"), rect(0, 50, 100, 70, "text")]
    result = evaluate_icdar(gt, [rect(0, 50, 100, 70, "text")])
    assert result.detection == Counts(1, 1, 1)


def test_icdar_detection_inside_dont_care_is_ignored() -> None:
    gt = [rect(0, 0, 100, 20, "###")]
    result = evaluate_icdar(gt, [rect(10, 0, 90, 20, "noise")])
    assert result.detection == Counts(0, 0, 0)


def test_icdar_detection_mostly_outside_dont_care_counts_as_false_positive() -> None:
    # 30 % of the detection's area lies in the don't-care region: it stays, and matches nothing.
    gt = [rect(0, 0, 100, 20, "###")]
    result = evaluate_icdar(gt, [rect(70, 0, 170, 20, "noise")])
    assert result.detection == Counts(0, 1, 0)


def test_icdar_detection_cannot_match_dont_care_region() -> None:
    # Exactly on a don't-care box: ignored rather than matched, and the real word is still missed.
    gt = [rect(0, 0, 100, 20, "###"), rect(0, 50, 100, 70, "word")]
    result = evaluate_icdar(gt, [rect(0, 0, 100, 20, "word")])
    assert result.detection == Counts(0, 0, 1)


def test_icdar_end_to_end_needs_the_text() -> None:
    result = evaluate_icdar(
        [rect(0, 0, 100, 20, "Genaxis Theatre")], [rect(0, 0, 100, 20, "Genexis Theatre")]
    )
    assert result.detection == Counts(1, 1, 1)
    assert result.end_to_end == Counts(0, 1, 1)


def test_icdar_end_to_end_ignores_spaces_and_case() -> None:
    # The peer writes English lines without spaces; normalisation makes that no error.
    result = evaluate_icdar([rect(0, 0, 100, 20, "Genaxis Theatre")], [rect(0, 0, 100, 20, "GenaxisTHEATRE")])
    assert result.end_to_end == Counts(1, 1, 1)


def test_icdar_counts_sum_over_images() -> None:
    first = evaluate_icdar([rect(0, 0, 10, 10)], [rect(0, 0, 10, 10)])
    second = evaluate_icdar([rect(0, 0, 10, 10)], [])
    assert (first + second).detection == Counts(1, 1, 2)
    assert sum([first, second], IcdarCounts()).detection.recall == 0.5


# ---------------------------------------------------------------------------------------------- crops


def test_crop_exact_after_normalisation() -> None:
    score = score_crop("Davidson", "DAVIDSON")
    assert score.exact
    assert score.similarity == 1.0


def test_crop_full_width_and_punctuation() -> None:
    assert score_crop("电话:15952301928", "电话：15952301928").exact


def test_crop_one_wrong_character() -> None:
    score = score_crop("MOTEL", "HOTEL")
    assert not score.exact
    assert score.similarity == pytest.approx(0.8)


def test_summarize_crops() -> None:
    summary = summarize_crops([score_crop("HOTEL", "HOTEL"), score_crop("MOTEL", "HOTEL")])
    assert summary.count == 2
    assert summary.accuracy == 0.5
    assert summary.similarity == pytest.approx(0.9)
    assert summarize_crops([]).count == 0


# ---------------------------------------------------------------------------------------------- pages


def test_character_counts_perfect_whatever_the_line_order() -> None:
    counts = character_counts("持卡人签名\n中国工商银行", "中国工商银行\n持卡人签名")
    assert counts.hmean == 1.0


def test_character_f1_on_multisets() -> None:
    # Reference "aab" (3 chars), prediction "abbc": matched a + b = 2, precision 2/4, recall 2/3.
    counts = character_counts("A, b b c", "a a b")
    assert counts == Counts(2, 4, 3)
    assert counts.hmean == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_character_counts_empty_prediction() -> None:
    assert character_counts("", "abc").hmean == 0.0


def test_token_counts() -> None:
    # A line read without its spaces is one token that matches none of the reference's.
    counts = token_counts("INDUSTRIAL ANDCOMMERCIAL bank", "INDUSTRIAL AND COMMERCIAL BANK")
    assert counts == Counts(matched=2, predicted=3, expected=4)
