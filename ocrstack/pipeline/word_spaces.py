"""Word spaces for Latin text, read from the CTC best path.

The PP-OCR Chinese/English recognizer has a space class but rarely emits it on small or blurred English
text: "Keep this door closed" comes back as "Keepthisdoorclosed". Where the space class loses, the best
path still shows the gap. Between two words the next character starts later than the line's character
pitch predicts, and the blank steps in between are less sure of themselves: the probability they lose
goes mostly to the space class. A space is inserted where both signs are there (or the doubt alone is
large), only between two Latin characters (letters, digits, ASCII punctuation), never next to CJK or
Hangul, never next to a space the model emitted itself.

After sentence punctuation followed by a letter the pitch says little (a comma is narrow, so its
neighbours start close together) and English puts a space there unless the punctuation is inside a token
("e.g", "U.S"); there a trace of doubt in the blank steps decides. Closing punctuation never gets a space
before it, nor an opening bracket after it, nor any of the characters that join the parts of a token
("km/h", "well-known", "don't"). Lines set in capitals, as signs often are, leave less doubt in their
word gaps and get a lower doubt threshold.

A space the rule finds never leaves a letter alone as a token, other than the one-letter words "a" and
"I": a lone letter is far more often a wide letter's gap or a letter-spaced sign's ("H OTEL", "OPE N").

Thresholds were chosen on rendered, degraded English lines and signs (``scripts/benchmark_english.py``,
seeds 100 and 200), never on the real benchmark images; that script reports the rule's effect on seed 0.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ocrstack.config import RecognizerConfig

SPACE = " "
# English follows these with a space when a word comes next, and never puts one before them.
SENTENCE_PUNCTUATION = frozenset(",;:!?.)")
OPENING = frozenset("([")
# A line is set in capitals when more than this share of its Latin letters are capitals.
CAPITALS_SHARE = 0.6
# The English words of one letter: a space the rule finds never leaves any other letter alone (a lone
# letter is far more often a word split at a wide letter or a letter-spaced sign's gap: "H OTEL").
ONE_LETTER_WORDS = frozenset("aAI")
# Characters that join the parts of one token ("km/h", "well-known", "don't", "user_name", "a@b"): no space
# is inserted next to them.
JOINERS = frozenset("/-'_@\u2019")


@dataclass(frozen=True)
class WordSpaceRule:
    """When a gap between two Latin characters is a word gap.

    Chosen on rendered English (``scripts/benchmark_english.py`` seeds 100 and 200, each read as 320
    line crops, as 320 letter-spaced sign crops and as the line crops' lines on pages through detection):
    mean token F1 0.957 over the six sets, against 0.587 without the rule. Doubts from 0.05 to 0.07 (0.01
    to 0.03 in capitals, 0.2 to 0.3 alone) scored within 0.003 of each other on the lines and pages;
    the signs, whose capitals are often letter-spaced, asked for 0.05 in capitals and no lone letters
    (with 0.02 and lone letters allowed, as before the signs were added: 0.950 over the six sets).
    Ratios 1.1 and 1.2 score alike, 1.3 misses gaps. Lower doubts add spaces inside words, higher ones
    miss gaps.
    """

    # The next character starts at least this many line pitches (the median distance between
    # neighbouring Latin characters' first steps) after the previous one ...
    min_pitch_ratio: float = 1.2
    # ... and the blank steps between them have lost at least this much probability in all
    # (the sum of 1 - p(blank)); a gap without blank steps is never a word gap.
    min_doubt: float = 0.07
    # In a line set in capitals (most of its Latin letters), words are closer to each other relative to
    # the wide, even letters and leave less doubt: this much is enough.
    min_doubt_capitals: float = 0.05
    # This much doubt is a word gap whatever the distance: between narrow letters ("all times") a word
    # gap can be as short as the pitch.
    min_doubt_alone: float = 0.3
    # After sentence punctuation followed by a letter, a trace of doubt is enough.
    min_doubt_after_punctuation: float = 0.01


DEFAULT_RULE = WordSpaceRule()


def rule_for(config: RecognizerConfig) -> WordSpaceRule | None:
    """The rule a recognizer's text is decoded with: None where its record does not ask for one."""
    return DEFAULT_RULE if config.word_spaces else None


@lru_cache(maxsize=4096)
def is_latin(char: str) -> bool:
    """Letters, digits and punctuation of Latin text: printable ASCII, or a letter named LATIN (é, ß)."""
    if char == SPACE or len(char) != 1:
        return False
    if char.isascii():
        return char.isprintable()
    return unicodedata.name(char, "").startswith("LATIN ")


def in_capitals(chars: Sequence[str]) -> bool:
    """Whether most of the Latin letters among ``chars`` are capitals (:data:`CAPITALS_SHARE`)."""
    letters = [char for char in chars if char.isalpha() and is_latin(char)]
    return bool(letters) and sum(char.isupper() for char in letters) > CAPITALS_SHARE * len(letters)


def gap_doubt(class_probs: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For each gap between consecutive character runs (``first``/``last``: their first and last time
    steps), the probability its blank steps lost in all, ``sum(1 - p)``, leaving out the first blank
    step, where the previous character's own probability fades (measured: counting it costs 0.01 token
    F1); 0.0 where no step is left."""
    lost = np.concatenate([[0.0], np.cumsum(1.0 - np.asarray(class_probs, dtype=np.float64))])
    start = np.minimum(last[:-1] + 2, first[1:])
    return lost[first[1:]] - lost[start]


def _may_part(a: str, b: str) -> bool:
    """Whether English ever puts a space between ``a`` and ``b`` (given both are Latin): not before
    closing punctuation, after an opening bracket, next to a joiner, nor inside a number."""
    if b in SENTENCE_PUNCTUATION or a in OPENING or {a, b} & JOINERS:
        return False
    return not (a.isdigit() and b.isdigit())


def word_gaps(
    chars: Sequence[str], starts: np.ndarray, doubt: np.ndarray, rule: WordSpaceRule = DEFAULT_RULE
) -> np.ndarray:
    """Which of the ``len(chars) - 1`` gaps between neighbouring characters hold a word space.

    ``starts``: the first time step of each character; ``doubt``: :func:`gap_doubt` of each gap.
    """
    pairs = list(itertools.pairwise(chars))
    latin = np.array([is_latin(a) and is_latin(b) for a, b in pairs], dtype=bool)
    if not latin.any():
        return latin
    distance = np.diff(np.asarray(starts, dtype=np.float64))
    pitch = float(np.median(distance[latin]))
    allowed = np.array([_may_part(a, b) for a, b in pairs], dtype=bool)
    after_punctuation = np.array([a in SENTENCE_PUNCTUATION and b.isalpha() for a, b in pairs], dtype=bool)
    doubt = np.asarray(doubt)
    wide = distance >= rule.min_pitch_ratio * pitch
    min_doubt = rule.min_doubt_capitals if in_capitals(chars) else rule.min_doubt
    between_words = (wide & (doubt >= min_doubt)) | (doubt >= rule.min_doubt_alone)
    spaced = np.where(after_punctuation, doubt >= rule.min_doubt_after_punctuation, between_words)
    eligible = latin & allowed
    return without_lone_letters(chars, eligible & spaced)


def _token_beside(chars: Sequence[str], spaced: np.ndarray, gap: int, step: int) -> str:
    """The token that ends at gap ``gap`` (``step`` -1: the one before it) or starts there (``step`` 1),
    its parts bounded by the model's spaces and the gaps in ``spaced``."""
    index = gap if step < 0 else gap + 1
    token: list[str] = []
    while 0 <= index < len(chars) and chars[index] != SPACE:
        token.append(chars[index])
        boundary = index - 1 if step < 0 else index
        if 0 <= boundary < len(spaced) and spaced[boundary]:
            break
        index += step
    return "".join(token)


def _is_lone_letter(token: str) -> bool:
    return len(token) == 1 and token.isalpha() and token not in ONE_LETTER_WORDS


def without_lone_letters(chars: Sequence[str], spaced: np.ndarray) -> np.ndarray:
    """``spaced`` without the gaps, taken from left to right, that would leave a letter alone as a token
    (other than :data:`ONE_LETTER_WORDS`)."""
    spaced = spaced.copy()
    for gap in np.flatnonzero(spaced):
        if _is_lone_letter(_token_beside(chars, spaced, gap, -1)) or _is_lone_letter(
            _token_beside(chars, spaced, gap, 1)
        ):
            spaced[gap] = False
    return spaced


def join_with_word_spaces(
    chars: Sequence[str], starts: np.ndarray, doubt: np.ndarray, rule: WordSpaceRule = DEFAULT_RULE
) -> str:
    """The characters joined, with a space in each gap :func:`word_gaps` finds; the model's own spaces
    are kept, one per gap and none at the ends."""
    spaced = word_gaps(chars, starts, doubt, rule)
    out: list[str] = []
    for index, char in enumerate(chars):
        if char != SPACE:
            out.append(char)
        elif out and out[-1] != SPACE:
            out.append(SPACE)
        if index < len(spaced) and spaced[index] and out and out[-1] != SPACE:
            out.append(SPACE)
    return "".join(out).strip(SPACE)
