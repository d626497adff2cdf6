"""Latin word spaces from the CTC best path: synthetic paths, and one rendered line through the real model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrstack.config import RECOGNIZERS, recognizer_config
from ocrstack.engine import OnnxRuntimeEngine
from ocrstack.evaluation.metrics import Counts, token_counts, total
from ocrstack.pipeline.ctc import character_runs, decode_best_path
from ocrstack.pipeline.pipeline import Recognizer
from ocrstack.pipeline.preprocess import choose_width_bucket, recognition_batch
from ocrstack.pipeline.word_spaces import DEFAULT_RULE, gap_doubt, is_latin, rule_for, word_gaps
from ocrstack.synth.fonts import find_face
from ocrstack.synth.render import render_text_line

CHARSET = [*"abcdefghijklmnopqrstuvwxyzEKNOPTUX.,3()/-'", "中", "文", "한", "국", " "]
SPACE_CLASS = len(CHARSET)  # the space is the last class, as in PP-OCR charsets
PITCH = 3  # time steps from one character's start to the next inside a word
MODEL_ONNX = (
    Path(__file__).resolve().parents[2] / "model_repository" / "text_recognition_ch" / "1" / "model.onnx"
)


def best_path(text: str, word_gap: int = 5, gap_blank: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """A 1 x T best path reading ``text``: each character one step, the next one ``PITCH`` steps later
    across sure blanks. A "_" marks a word gap the model left without a space: the next character
    starts ``word_gap`` steps later, across blanks of probability ``gap_blank``."""
    classes: list[int] = [0]
    probs: list[float] = [1.0]
    gap = False
    for char in text:
        if char == "_":
            gap = True
            continue
        if len(classes) > 1:
            blanks = word_gap - 1 if gap else PITCH - 1
            classes += [0] * blanks
            probs += [gap_blank if gap else 1.0] * blanks
        classes.append(CHARSET.index(char) + 1)
        probs.append(0.95)
        gap = False
    return np.array([[*classes, 0, 0]]), np.array([[*probs, 1.0, 1.0]], dtype=np.float32)


def read(text: str, rule=DEFAULT_RULE, **path) -> str:
    ((decoded, _score),) = decode_best_path(*best_path(text, **path), CHARSET, rule)
    return decoded


def test_without_the_rule_the_path_reads_as_before():
    assert read("keep_this_door", rule=None) == "keepthisdoor"


def test_a_space_goes_into_each_wide_gap_with_doubt():
    assert read("keep_this_door_closed") == "keep this door closed"


def test_no_space_inside_words():
    assert read("keepthisdoorclosed") == "keepthisdoorclosed"


def test_a_wide_gap_without_doubt_is_not_a_word_gap():
    assert read("keep_this", gap_blank=1.0) == "keepthis"


def test_doubt_without_a_wide_gap_is_not_a_word_gap():
    assert read("keep_this", word_gap=PITCH) == "keepthis"


def test_never_between_cjk_or_hangul_characters():
    assert read("中_文_中") == "中文中"
    assert read("한_국_한") == "한국한"
    assert read("ab_中_cd") == "ab中cd"


def test_model_spaces_are_kept_and_never_doubled():
    classes, probs = best_path("keep_this")
    # the model itself emits a space on the last blank step before "t"
    first_t = int(np.flatnonzero(classes[0] == CHARSET.index("t") + 1)[0])
    classes[0, first_t - 1] = SPACE_CLASS
    ((with_rule, _),) = decode_best_path(classes, probs, CHARSET, DEFAULT_RULE)
    ((without, _),) = decode_best_path(classes, probs, CHARSET, None)
    assert without == "keep this" and with_rule == "keep this"


def test_after_sentence_punctuation_a_little_doubt_is_enough():
    assert read("end.next", gap_blank=1.0) == "end.next"
    assert read("end._next", word_gap=PITCH, gap_blank=0.98) == "end. next"
    assert read("3._3", word_gap=PITCH, gap_blank=0.98) == "3.3"  # none before a digit


def test_never_before_closing_or_after_opening_punctuation():
    assert read("end_,_next") == "end, next"
    assert read("(_keep_)") == "(keep)"


def test_never_inside_a_number_or_next_to_characters_that_join_a_token():
    assert read("33_3") == "333"
    assert read("km_/_h") == "km/h"
    assert read("well_-_known") == "well-known"
    assert read("don_'_t") == "don't"


def test_lines_in_capitals_need_less_doubt():
    # a word gap whose blanks lost 3 x 0.02 = 0.06 (the first blank step is left out): too little in
    # lower case, enough in capitals
    assert read("keep_out", gap_blank=0.98) == "keepout"
    assert read("KEEP_OUT", gap_blank=0.98) == "KEEP OUT"
    assert read("Keep_Out_Next", gap_blank=0.98) == "KeepOutNext"  # mostly lower case


def test_no_space_leaves_a_letter_alone_but_a_one_letter_word():
    # a wide letter or a letter-spaced sign's gap, not a word gap: "H OTEL", "OPE N"
    assert read("N_OTE") == "NOTE"
    assert read("x_ten") == "xten"
    # the gaps are taken from left to right: once "ab" and "c" are one token, "abc" may part from "de"
    assert read("ab_c_de") == "abc de"
    assert read("keep_a_note") == "keep a note"
    assert read("ab_3") == "ab 3"  # a number alone is a token


def test_gap_doubt_sums_what_the_blank_steps_lost():
    classes, probs = best_path("ab_c", word_gap=5, gap_blank=0.8)
    firsts, lasts = character_runs(classes[0])
    # between a and b: two sure blanks; between b and c: four at 0.8, the first one left out
    np.testing.assert_allclose(gap_doubt(probs[0], firsts, lasts), [0.0, 0.6], atol=1e-6)


def test_word_gaps_with_no_latin_pair_finds_none():
    assert not word_gaps(["中", "文"], np.array([0, 9]), np.array([5.0])).any()
    assert word_gaps(["a"], np.array([0]), np.zeros(0)).shape == (0,)


def test_latin_characters():
    assert all(map(is_latin, "aZ09.,'(é"))
    assert not any(map(is_latin, " 中한，"))


def test_the_rule_is_on_where_it_measured_better():
    """The served Chinese/English recognizer and the PP-OCRv6 small candidate; not PP-OCRv5 mobile (worse
    on the real pages with it), nor the Korean recognizers."""
    with_rule = {"text_recognition_ch", "text_recognition_ch_ppocrv6_small"}
    for name, record in RECOGNIZERS.items():
        assert rule_for(record) is (DEFAULT_RULE if name in with_rule else None), name


SIGNS = (
    "Keep this door closed at all times",
    "Please wait here until your name is called",
    "Exit only. No parking at any time",
)


@pytest.mark.skipif(not MODEL_ONNX.exists(), reason="model_repository is not built (make model-repository)")
def test_small_blurred_english_lines_get_their_spaces_back():
    """At 14 to 16 pixels of text height with a little blur the model drops most spaces; the rule puts
    them back. (Blurred lines of 18 to 22 pixels lose more than the rule recovers: see the benchmark.)"""
    config = recognizer_config("text_recognition_ch")
    recognizer = Recognizer.from_engine(OnnxRuntimeEngine(MODEL_ONNX, intra_op_threads=1), config)
    without: list[Counts] = []
    with_rule: list[Counts] = []
    for text in SIGNS:
        line = render_text_line(text, find_face("latin").path, height=72, padding=4)
        for height in (14, 16):
            small = cv2.resize(
                line, (round(line.shape[1] * height / 72), height), interpolation=cv2.INTER_AREA
            )
            small = cv2.GaussianBlur(small, (0, 0), 0.6)
            small_h, small_w = small.shape[:2]
            batch = recognition_batch([small], config, choose_width_bucket(small_h, small_w, config))
            classes, scores = recognizer.best_path(batch)
            ((plain, _),) = decode_best_path(classes, scores, recognizer.charset, None)
            ((spaced, _),) = decode_best_path(classes, scores, recognizer.charset, rule_for(config))
            assert spaced.replace(" ", "") == plain.replace(" ", ""), "the rule only adds spaces"
            without.append(token_counts(plain, text))
            with_rule.append(token_counts(spaced, text))
    assert total(without).hmean < 0.5
    assert total(with_rule).hmean >= 0.9
