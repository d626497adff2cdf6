"""Lines read by a second recognizer where the first one is not the better reader: keep the better reading.

Korean signs, menus and documents mix in English words, prices, codes and plates. The Korean recognizer
reads Latin and digits too, but the Chinese/English recognizer has seen far more Latin text. A Korean
model's reading of a line of Latin words without Hangul, or that it read with little confidence, is therefore
checked against the second reader's (the model the config record's ``second_reader`` names): the second
reading replaces the first when it holds no Hangul and no CJK ideograph (a line the second reader can
only guess at) and scores higher. Lines of Hangul read with confidence are never read twice, so Korean
pages pay for the second reading only on the lines that need it.

The Chinese/English recognizer reads Latin well itself; its second reader, a larger model that reads
curved, stylised and blurred Latin better, checks only the Latin lines it read with some doubt
(``second_reading_latin_below``). On a page, a line the first reader scored below the page's threshold
is not read again: the page drops it, and a second reading must not bring back a box that holds no
text (the larger model is more sure of itself on such boxes too).
"""

from __future__ import annotations

from collections.abc import Sequence

from ocrstack.config import RecognizerConfig

Reading = tuple[str, float]  # text and mean confidence


# Syllables, jamo, compatibility jamo, extended jamo A and B.
HANGUL_RANGES = ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
IDEOGRAPH_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))


def is_hangul(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in HANGUL_RANGES)


def has_hangul(text: str) -> bool:
    return any(is_hangul(char) for char in text)


def has_ideograph(text: str) -> bool:
    """Any CJK ideograph (the Chinese/English recognizer's guess at a Hangul line)."""
    return any(low <= ord(char) <= high for char in text for low, high in IDEOGRAPH_RANGES)


def latin_letters(text: str) -> int:
    return sum(char.isascii() and char.isalpha() for char in text)


def needs_second_reading(reading: Reading, config: RecognizerConfig, floor: float = 0.0) -> bool:
    """A line whose first reading holds Latin words and neither Hangul nor CJK ideographs, or that
    scored below ``config.second_reading_below``. Where ``config.second_reading_latin_below`` is set,
    only the Latin lines that scored below it, and at least ``floor``, are read again. Digits, prices and
    stray marks without letters the Korean model reads as well itself (it trains on lines dense with
    them), so they are not read twice."""
    text, score = reading
    if not text.strip():
        return False
    latin_line = not has_hangul(text) and not has_ideograph(text) and latin_letters(text) >= 2
    latin_below = config.second_reading_latin_below
    doubtful = latin_below is None or floor <= score < latin_below
    return (latin_line and doubtful) or score < config.second_reading_below


def lines_to_read_again(
    readings: Sequence[Reading], config: RecognizerConfig, floor: float = 0.0
) -> list[int]:
    """Indices of the readings the second reader should check (none without a second reader);
    ``floor``: the score below which a page drops a line (0 for crops a caller cut)."""
    if config.second_reader is None:
        return []
    return [index for index, reading in enumerate(readings) if needs_second_reading(reading, config, floor)]


def keep_better(readings: list[Reading], again: Sequence[int], rereads: Sequence[Reading]) -> None:
    """Put the better of each first reading and its second reading (``again[k]`` -> ``rereads[k]``)
    in ``readings``, in place."""
    for index, reading in zip(again, rereads, strict=True):
        readings[index] = better_reading(readings[index], reading)


def better_reading(first: Reading, second: Reading) -> Reading:
    """The second reading where it is a Latin/digit reading that scored higher, else the first."""
    text, score = second
    if text.strip() and not has_hangul(text) and not has_ideograph(text) and score > first[1]:
        return second
    return first
