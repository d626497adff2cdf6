"""Accuracy metrics: text normalisation, ICDAR 2015 detection and end-to-end matching, crop and page scores.

Everything here is a pure function over plain values. Scores that are summed over images come back as
`Counts` (matched / predicted / expected), so that totals are computed from summed counts (micro
averages), the way the ICDAR protocol computes its global figures.
"""

from __future__ import annotations

import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon

from ocrstack.evaluation.dataset import TextBox
from ocrstack.pipeline.mixed_script import is_hangul

IOU_THRESHOLD = 0.5
# A detection with more than this share of its own area inside one don't-care region is ignored.
DONT_CARE_AREA_RATIO = 0.5

# Unicode's punctuation categories miss ASCII symbols such as "$+<=>^`|~" that people count as
# punctuation; after NFKC full-width forms ("：", "（") have become these ASCII characters too.
_ASCII_PUNCTUATION = frozenset(string.punctuation)


# ---------------------------------------------------------------------------------------------- text


def _is_ignored_char(char: str) -> bool:
    """Spaces (category Z* or whitespace) and punctuation (category P* or ASCII punctuation)."""
    return char.isspace() or char in _ASCII_PUNCTUATION or unicodedata.category(char)[0] in "PZ"


def normalize_text(text: str) -> str:
    """NFKC, lower case, spaces and punctuation removed: the normalisation the peer's figures use."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(char for char in folded if not _is_ignored_char(char))


def tokenize(text: str) -> list[str]:
    """Whitespace tokens, each normalised; tokens that were only punctuation disappear."""
    tokens = (normalize_text(token) for token in unicodedata.normalize("NFKC", text).split())
    return [token for token in tokens if token]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit-cost insertions, deletions and substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def normalized_edit_similarity(prediction: str, reference: str) -> float:
    """1 - edit distance / length of the longer string (1.0 for two empty strings)."""
    longest = max(len(prediction), len(reference))
    if longest == 0:
        return 1.0
    return 1.0 - edit_distance(prediction, reference) / longest


# -------------------------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    """How many predictions matched, out of how many predicted and how many expected."""

    matched: int = 0
    predicted: int = 0
    expected: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.matched + other.matched, self.predicted + other.predicted, self.expected + other.expected
        )

    @property
    def precision(self) -> float:
        # Predicting nothing is only perfect when nothing was expected; otherwise empty output would
        # score a free precision of 1.
        if self.predicted == 0:
            return 1.0 if self.expected == 0 else 0.0
        return self.matched / self.predicted

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def hmean(self) -> float:
        """Harmonic mean of precision and recall (F1)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def total(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


def multiset_counts(predicted: Iterable[str], expected: Iterable[str]) -> Counts:
    """Matches between two multisets: each item matches at most as often as it occurs in both."""
    predicted_counter, expected_counter = Counter(predicted), Counter(expected)
    matched = sum((predicted_counter & expected_counter).values())
    return Counts(matched, sum(predicted_counter.values()), sum(expected_counter.values()))


# ------------------------------------------------------------------------------------------ geometry


def to_polygon(points: np.ndarray | Sequence[Sequence[float]]) -> Polygon:
    """A shapely polygon from (N, 2) points; self-intersecting quads are repaired (buffer(0))."""
    polygon = Polygon(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    return polygon if polygon.is_valid else polygon.buffer(0)


def polygon_iou(a: Polygon, b: Polygon) -> float:
    union = a.union(b).area
    return a.intersection(b).area / union if union > 0 else 0.0


def iou_matrix(ground_truth: Sequence[Polygon], detections: Sequence[Polygon]) -> np.ndarray:
    """(num ground truth, num detections) intersection over union."""
    ious = np.zeros((len(ground_truth), len(detections)), dtype=np.float64)
    for i, gt in enumerate(ground_truth):
        for j, det in enumerate(detections):
            if gt.intersects(det):
                ious[i, j] = polygon_iou(gt, det)
    return ious


def greedy_match(ious: np.ndarray, threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs with IoU >= threshold, highest IoU first.

    Ties go to the lower row then the lower column, so the result does not depend on sort stability.
    """
    rows, cols = np.nonzero(ious >= threshold)
    order = sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda rc: (-ious[rc], rc[0], rc[1]))
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for row, col in order:
        if row not in used_rows and col not in used_cols:
            used_rows.add(row)
            used_cols.add(col)
            pairs.append((row, col))
    return pairs


def _inside_dont_care(detection: Polygon, dont_care: Sequence[Polygon]) -> bool:
    area = detection.area
    if area <= 0:
        return False
    return any(detection.intersection(region).area / area > DONT_CARE_AREA_RATIO for region in dont_care)


# ---------------------------------------------------------------------------------------------- ICDAR


@dataclass(frozen=True)
class IcdarCounts:
    """ICDAR 2015 counts for one or more images: detection and end-to-end (box and text right)."""

    detection: Counts = Counts()
    end_to_end: Counts = Counts()

    def __add__(self, other: IcdarCounts) -> IcdarCounts:
        return IcdarCounts(self.detection + other.detection, self.end_to_end + other.end_to_end)


def evaluate_icdar(ground_truth: Sequence[TextBox], detections: Sequence[TextBox]) -> IcdarCounts:
    """ICDAR 2015 incidental-text protocol on one image.

    "###" ground truth is don't care: it is not counted, and detections with more than half of their
    area inside one such region are dropped before matching. The rest are matched one-to-one by
    IoU >= 0.5, highest first. End-to-end counts the matched pairs whose normalised texts are equal.
    """
    gt_polygons = [to_polygon(box.points) for box in ground_truth]
    dont_care = [p for p, box in zip(gt_polygons, ground_truth, strict=True) if box.dont_care]
    cared_gt = [i for i, box in enumerate(ground_truth) if not box.dont_care]
    det_polygons = [to_polygon(box.points) for box in detections]
    cared_det = [j for j, p in enumerate(det_polygons) if not _inside_dont_care(p, dont_care)]

    ious = iou_matrix([gt_polygons[i] for i in cared_gt], [det_polygons[j] for j in cared_det])
    pairs = [(cared_gt[r], cared_det[c]) for r, c in greedy_match(ious)]
    text_right = sum(
        normalize_text(ground_truth[i].text) == normalize_text(detections[j].text) for i, j in pairs
    )
    return IcdarCounts(
        detection=Counts(len(pairs), len(cared_det), len(cared_gt)),
        end_to_end=Counts(text_right, len(cared_det), len(cared_gt)),
    )


# ---------------------------------------------------------------------------------------------- crops


@dataclass(frozen=True)
class CropScore:
    exact: bool
    similarity: float  # 1 - normalised edit distance


@dataclass(frozen=True)
class CropSummary:
    count: int
    accuracy: float  # share of exact matches
    similarity: float  # mean 1 - normalised edit distance


def score_crop(prediction: str, reference: str) -> CropScore:
    """Both texts are normalised first, so case, spaces and punctuation never count as errors."""
    predicted, expected = normalize_text(prediction), normalize_text(reference)
    return CropScore(predicted == expected, normalized_edit_similarity(predicted, expected))


def summarize_crops(scores: Sequence[CropScore]) -> CropSummary:
    if not scores:
        return CropSummary(0, 0.0, 0.0)
    accuracy = sum(score.exact for score in scores) / len(scores)
    similarity = sum(score.similarity for score in scores) / len(scores)
    return CropSummary(len(scores), accuracy, similarity)


# ---------------------------------------------------------------------------------------------- pages


def character_counts(prediction: str, reference: str) -> Counts:
    """Characters of the normalised texts as multisets: reading order and line breaks do not matter."""
    return multiset_counts(normalize_text(prediction), normalize_text(reference))


def token_counts(prediction: str, reference: str) -> Counts:
    """Whitespace tokens as multisets; a line read without its spaces counts as one (wrong) token."""
    return multiset_counts(tokenize(prediction), tokenize(reference))


# Hangul syllables and jamo: conjoining (where NFKC maps half-width and compatibility jamo), compatibility,
# extended A and B.
def hangul_counts(prediction: str, reference: str) -> Counts:
    """:func:`character_counts` restricted to Hangul: digits and Latin letters, which a reader without
    Korean still gets right, do not count."""
    return multiset_counts(_hangul_of(prediction), _hangul_of(reference))


def _hangul_of(text: str) -> list[str]:
    return [char for char in normalize_text(text) if is_hangul(char)]
