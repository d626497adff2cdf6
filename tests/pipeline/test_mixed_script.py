"""Mixed-script lines: which readings are checked by the second reader, and which reading wins; the
in-process pipeline reads again only those lines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ocrstack.config import KOREAN_RECOGNIZERS, recognizer_config
from ocrstack.engine import InferenceEngine
from ocrstack.pipeline.mixed_script import (
    better_reading,
    has_hangul,
    has_ideograph,
    lines_to_read_again,
    needs_second_reading,
)
from ocrstack.pipeline.pipeline import OcrPipeline, Recognizer

KO = KOREAN_RECOGNIZERS["horizontal"]


def test_scripts_are_told_apart() -> None:
    assert has_hangul("AI 시스템") and has_hangul("ㄱ") and not has_hangul("AI 2024-06, ¥1,000")
    assert has_ideograph("北京") and not has_ideograph("서울 Seoul 12가3456")


@pytest.mark.parametrize(
    ("reading", "again"),
    [
        (("Menu 6,000", 0.99), True),  # no Hangul: the Chinese/English model knows these better
        (("서울 국제 도서전", 0.95), False),  # confident Hangul
        (("서울 국제 도서전", 0.5), False),  # doubtful, but Hangul: read once by default
        (("", 0.0), False),  # nothing to check
        (("6,000 02-123-4567", 0.6), False),  # digits: the Korean model reads these itself
    ],
)
def test_lines_without_hangul_or_confidence_are_read_again(reading: tuple[str, float], again: bool) -> None:
    assert needs_second_reading(reading, KO) is again


def test_a_recognizer_without_a_second_reader_reads_nothing_again() -> None:
    alone = replace(KO, second_reader=None)
    assert lines_to_read_again([("ABC", 0.4)], alone) == []
    assert lines_to_read_again([("ABC", 0.4), ("한글", 0.99)], KO) == [0]
    doubtful = replace(KO, second_reading_below=0.8)
    assert lines_to_read_again([("한글", 0.5), ("한글", 0.9)], doubtful) == [0]


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        (("시", 0.6), ("AI", 0.9), "AI"),  # Latin read better by the second reader
        (("Menu", 0.95), ("Mcnu", 0.7), "Menu"),  # the first scored higher
        (("서울", 0.7), ("北京", 0.9), "서울"),  # the second reader's guess at Hangul never wins
        (("6,OOO원", 0.6), ("6,000", 0.9), "6,000"),
        (("ABC", 0.5), ("", 0.0), "ABC"),
    ],
)
def test_the_better_latin_reading_wins(first: tuple, second: tuple, kept: str) -> None:
    assert better_reading(first, second)[0] == kept


class TextEngine(InferenceEngine):
    """A recognizer engine whose best path spells ``text`` at ``score`` for every crop."""

    def __init__(self, charset: str, text: str, score: float) -> None:
        self.charset, self.text, self.score, self.crops = charset, text, score, 0

    @property
    def input_names(self) -> list[str]:
        return ["image"]

    @property
    def output_names(self) -> list[str]:
        return ["probabilities"]

    @property
    def metadata(self) -> dict[str, str]:
        return {"charset": "\n".join(self.charset)}

    def run(self, inputs, outputs=None):
        batch = inputs["image"]
        self.crops += batch.shape[0]
        steps = 2 * len(self.text) + 1
        probs = np.zeros((batch.shape[0], steps, len(self.charset) + 2), np.float32)
        probs[:, :, 0] = 1.0
        for position, char in enumerate(self.text):
            probs[:, 2 * position + 1, 0] = 0.0
            probs[:, 2 * position + 1, self.charset.index(char) + 1] = self.score
        return {"probabilities": probs}


def _pipeline(first: TextEngine, second: TextEngine) -> OcrPipeline:
    ko = Recognizer.from_engine(first, replace(KO, use_space_char=False))
    ch = Recognizer.from_engine(second, replace(recognizer_config("text_recognition_ch"), word_spaces=False))
    return OcrPipeline(object(), None, {"horizontal": ko}, second_reader=ch)  # type: ignore[arg-type]


def test_the_pipeline_reads_latin_lines_again_and_keeps_the_better_reading() -> None:
    first, second = TextEngine("AlI", "Al", 0.6), TextEngine("AI시", "AI", 0.9)
    crops = [np.full((48, 96, 3), 128, np.uint8)] * 3
    assert [text for text, _ in _pipeline(first, second).recognize(crops)] == ["AI"] * 3
    assert (first.crops, second.crops) == (3, 3)


def test_confident_hangul_lines_are_read_once() -> None:
    first, second = TextEngine("한글", "한글", 0.99), TextEngine("AB", "AB", 0.99)
    crops = [np.full((48, 96, 3), 128, np.uint8)] * 2
    assert [text for text, _ in _pipeline(first, second).recognize(crops)] == ["한글"] * 2
    assert second.crops == 0


CH = recognizer_config("text_recognition_ch")


@pytest.mark.parametrize(
    ("reading", "floor", "again"),
    [
        (("PACIRC", 0.6), 0.0, True),  # a doubtful Latin line
        (("PACIFIC", 0.95), 0.0, False),  # read with confidence: once
        (("商户名称 CODE", 0.6), 0.0, False),  # Chinese in it: the second reading could only lose it
        (("SO PIP", 0.4), 0.0, True),  # a crop a caller cut is text: however doubtful
        (("SO PIP", 0.4), 0.5, False),  # on a page it is dropped, and not brought back
        (("12-03", 0.6), 0.0, False),  # no Latin words
    ],
)
def test_the_chinese_english_model_has_only_its_doubtful_latin_lines_read_again(
    reading: tuple[str, float], floor: float, again: bool
) -> None:
    assert CH.second_reader is not None and CH.second_reading_latin_below is not None
    assert needs_second_reading(reading, CH, floor) is again


def test_the_korean_model_has_its_latin_lines_read_again_below_the_page_threshold_too() -> None:
    assert needs_second_reading(("Menu", 0.2), KO, floor=0.5)


def test_a_page_drops_what_the_first_reader_doubts_even_where_the_second_is_sure() -> None:
    first, second = TextEngine("PACIRF", "PACIR", 0.3), TextEngine("PACIF", "PACIF", 0.99)
    ch = Recognizer.from_engine(first, replace(CH, use_space_char=False, word_spaces=False))
    v6 = Recognizer.from_engine(second, replace(recognizer_config(CH.second_reader or ""), word_spaces=False))
    pipeline = OcrPipeline(object(), None, {"horizontal": ch}, second_reader=v6)  # type: ignore[arg-type]
    crops = [np.full((48, 96, 3), 128, np.uint8)]
    assert pipeline.recognize(crops, floor=0.5)[0][0] == "PACIR" and second.crops == 0
    assert pipeline.recognize(crops)[0][0] == "PACIF" and second.crops == 1
