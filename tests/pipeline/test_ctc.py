import numpy as np
import pytest

from ocrstack.pipeline.ctc import (
    charset_from_metadata,
    charset_from_model_metadata,
    charset_to_metadata,
    ctc_greedy_decode,
)

CHARSET = ["a", "b", "c"]


def one_hot(classes: list[int], probs: list[float] | None = None, num_classes: int = 4) -> np.ndarray:
    """T x C probabilities whose winners are ``classes`` with the given probabilities."""
    probs = probs or [0.9] * len(classes)
    out = np.zeros((len(classes), num_classes), dtype=np.float32)
    for t, (c, p) in enumerate(zip(classes, probs, strict=True)):
        out[t] = (1 - p) / (num_classes - 1)
        out[t, c] = p
    return out


def test_collapses_repeats_and_removes_blanks():
    seq = one_hot([1, 1, 0, 1, 2, 2, 0, 0, 3], [0.9, 0.5, 0.8, 0.7, 0.6, 0.4, 0.9, 0.9, 0.5])
    ((text, score),) = ctc_greedy_decode(seq[None], CHARSET)
    assert text == "aabc"
    # Kept: the first of each run of a character: 0.9 (a), 0.7 (a), 0.6 (b), 0.5 (c).
    assert score == pytest.approx((0.9 + 0.7 + 0.6 + 0.5) / 4, abs=1e-6)


def test_blank_separates_double_letters():
    ((text, _),) = ctc_greedy_decode(one_hot([2, 0, 2, 2, 0])[None], CHARSET)
    assert text == "bb"


def test_empty_line_scores_zero():
    ((text, score),) = ctc_greedy_decode(one_hot([0, 0, 0])[None], CHARSET)
    assert text == "" and score == 0.0


def test_batch_keeps_order():
    batch = np.stack([one_hot([1, 0, 0]), one_hot([3, 3, 3]), one_hot([0, 2, 0])])
    assert [t for t, _ in ctc_greedy_decode(batch, CHARSET)] == ["a", "c", "b"]


def test_class_count_must_match_charset():
    with pytest.raises(ValueError, match="classes"):
        ctc_greedy_decode(one_hot([1, 2], num_classes=5)[None], CHARSET)
    with pytest.raises(ValueError, match="N x T x C"):
        ctc_greedy_decode(one_hot([1, 2]), CHARSET)


def test_charset_round_trip_keeps_space_and_unusual_separators():
    chars = ["가", "\u2028", "\x1c", "A", " "]  # str.splitlines would split on the two in the middle
    assert charset_from_metadata(charset_to_metadata(chars)) == chars


def test_charset_from_metadata_tolerates_one_trailing_newline():
    assert charset_from_metadata("a\nb\n") == ["a", "b"]
    with pytest.raises(ValueError):
        charset_from_metadata("a\n\nb")
    with pytest.raises(ValueError):
        charset_from_metadata("")


def test_charset_to_metadata_rejects_unstorable_entries():
    with pytest.raises(ValueError):
        charset_to_metadata(["a", ""])
    with pytest.raises(ValueError):
        charset_to_metadata(["a\nb"])


def test_model_metadata_conventions():
    ours = {"charset": "a\nb\n "}
    assert charset_from_model_metadata(ours, use_space_char=True) == ["a", "b", " "]
    original = {"character": "a\nb"}  # rapidocr files lack the space PP-OCR appends
    assert charset_from_model_metadata(original, use_space_char=True) == ["a", "b", " "]
    assert charset_from_model_metadata(original, use_space_char=False) == ["a", "b"]
    with pytest.raises(KeyError):
        charset_from_model_metadata({}, use_space_char=True)


def test_space_is_the_last_class():
    charset = charset_from_model_metadata({"character": "a\nb"}, use_space_char=True)
    ((text, _),) = ctc_greedy_decode(one_hot([1, 3, 2])[None], charset)
    assert text == "a b"
