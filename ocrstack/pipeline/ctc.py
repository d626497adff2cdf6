"""CTC greedy decoding and the charset a recognition model carries in its metadata.

Charset convention: a charset is the list of the model's non-blank classes in class order, so that
class ``i`` (``i >= 1``) reads ``charset[i - 1]`` and class 0 is the CTC blank. When a model was
trained with ``use_space_char`` the space is part of the list, as its last entry. Exported models
carry it under the metadata key ``"charset"``, newline-joined. The original PP-OCR / RapidOCR files
carry the key ``"character"`` instead, whose list lacks the space that PP-OCR appends as the last
class; :func:`charset_from_model_metadata` completes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ocrstack.pipeline.word_spaces import WordSpaceRule, gap_doubt, join_with_word_spaces

BLANK = 0
CHARSET_KEY = "charset"
RAPIDOCR_CHARSET_KEY = "character"


def best_path(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N x T x C class probabilities -> (N x T winning classes, N x T their probabilities)."""
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"expected N x T x C probabilities, got shape {probs.shape}")
    return probs.argmax(axis=2), probs.max(axis=2)


def ctc_greedy_decode(
    probs: np.ndarray, charset: Sequence[str], word_spaces: WordSpaceRule | None = None
) -> list[tuple[str, float]]:
    """Best-path decoding of N x T x C class probabilities (class 0 blank, then ``charset``).

    Repeats are collapsed and blanks removed; a line's confidence is the mean of the winning
    probabilities of the characters kept (0.0 for an empty line). With ``word_spaces``, Latin word gaps
    the model left without a space get one (:mod:`ocrstack.pipeline.word_spaces`).
    """
    if np.asarray(probs).ndim == 3 and probs.shape[2] != len(charset) + 1:
        raise ValueError(f"model has {probs.shape[2]} classes, charset gives {len(charset) + 1} (with blank)")
    return decode_best_path(*best_path(probs), charset, word_spaces)


def decode_best_path(
    classes: np.ndarray,
    class_probs: np.ndarray,
    charset: Sequence[str],
    word_spaces: WordSpaceRule | None = None,
) -> list[tuple[str, float]]:
    """CTC decoding of a best path already taken (N x T classes and probabilities), e.g. by the model;
    ``word_spaces`` as in :func:`ctc_greedy_decode`."""
    classes, class_probs = np.asarray(classes), np.asarray(class_probs)
    if classes.shape != class_probs.shape or classes.ndim != 2:
        raise ValueError(f"expected two N x T arrays, got {classes.shape} and {class_probs.shape}")
    if classes.size and int(classes.max()) > len(charset):
        raise ValueError(f"class {int(classes.max())} is beyond the charset ({len(charset)} + blank)")
    return [_decode_one(classes[n], class_probs[n], charset, word_spaces) for n in range(classes.shape[0])]


def character_runs(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last time step of each run of one non-blank class: the characters the path reads."""
    if len(classes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    changes = np.flatnonzero(classes[1:] != classes[:-1]) + 1
    firsts = np.concatenate([[0], changes])
    lasts = np.concatenate([changes - 1, [len(classes) - 1]])
    read = classes[firsts] != BLANK
    return firsts[read], lasts[read]


def _decode_one(
    classes: np.ndarray, class_probs: np.ndarray, charset: Sequence[str], word_spaces: WordSpaceRule | None
) -> tuple[str, float]:
    firsts, lasts = character_runs(classes)
    chars = [charset[c - 1] for c in classes[firsts]]
    score = float(class_probs[firsts].mean()) if firsts.size else 0.0
    if word_spaces is None:
        return "".join(chars), score
    return join_with_word_spaces(chars, firsts, gap_doubt(class_probs, firsts, lasts), word_spaces), score


def charset_to_metadata(chars: Sequence[str]) -> str:
    """Charset -> the newline-joined metadata value."""
    for char in chars:
        if not char or "\n" in char:
            raise ValueError(f"charset entry {char!r} cannot be stored one per line")
    return "\n".join(chars)


def charset_from_metadata(value: str) -> list[str]:
    """The newline-joined metadata value -> charset.

    Split on "\\n" only: ``str.splitlines`` would also split on characters such as U+2028 or U+001C
    that may be legitimate charset entries.
    """
    if not value:
        raise ValueError("empty charset")
    chars = value.split("\n")
    if chars[-1] == "":  # a file-style trailing newline
        chars.pop()
    if any(not char for char in chars):
        raise ValueError("charset has an empty entry")
    return chars


def charset_from_model_metadata(metadata: Mapping[str, str], use_space_char: bool) -> list[str]:
    """Charset from a model's metadata: ours under "charset", or the original file's "character"."""
    if CHARSET_KEY in metadata:
        return charset_from_metadata(metadata[CHARSET_KEY])
    if RAPIDOCR_CHARSET_KEY in metadata:
        chars = charset_from_metadata(metadata[RAPIDOCR_CHARSET_KEY])
        return [*chars, " "] if use_space_char else chars
    raise KeyError(f"model metadata has no {CHARSET_KEY!r} (or {RAPIDOCR_CHARSET_KEY!r}) key")
