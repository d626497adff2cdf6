from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from training.charset import load_charset, out_of_charset
from training.corpus import HUNSPELL_KO, default_corpus, read_hunspell, sample_text


@pytest.mark.skipif(not HUNSPELL_KO.exists(), reason="hunspell-ko not installed")
def test_hunspell_words_are_nfc_and_inside_the_charset() -> None:
    charset = set(load_charset())
    words, dropped, examples = read_hunspell(HUNSPELL_KO, charset)
    assert (len(words) > 50_000 and dropped == len(set(examples))) or dropped >= len(examples)
    assert all("/" not in word and unicodedata.normalize("NFC", word) == word for word in words)
    assert not any(out_of_charset(word, charset) for word in words)
    assert all(out_of_charset(word, charset) for word in examples)  # reported, not silently lost


def test_stats_count_what_was_kept() -> None:
    corpus = default_corpus()
    assert corpus.stats.hunspell_kept == len(corpus.hunspell)
    assert corpus.stats.wordfreq_ko == len(corpus.wordfreq_ko)
    assert len(corpus.syllables) == 2350 and corpus.english


def test_samples_are_deterministic_bounded_and_in_charset() -> None:
    charset = set(load_charset())
    first = [sample_text(np.random.default_rng(7), 3, 20) for _ in range(3)]
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    texts = [sample_text(rng_a, 3, 20) for _ in range(500)]
    assert texts == [sample_text(rng_b, 3, 20) for _ in range(500)]
    assert len(set(first)) == 1
    for text in texts:
        assert 3 <= len(text) <= 20 and text == text.strip() and "  " not in text
        assert out_of_charset(text, charset) == []
    joined = "".join(texts)
    assert any("\uac00" <= c <= "\ud7a3" for c in joined) and any(c.isascii() and c.isalpha() for c in joined)
    assert any(c.isdigit() for c in joined)


def test_plates_look_like_korean_plates() -> None:
    import re

    from training.corpus import PLATE_REGIONS, PLATE_SYLLABLES, _plate

    regions = "|".join(PLATE_REGIONS)
    syllables = "".join(PLATE_SYLLABLES)
    whole = re.compile(rf"^(?:{regions})?\d{{2,3}}[{syllables}] ?\d{{4}}$")
    upper = re.compile(rf"^(?:{regions})?\d{{2,3}}$")
    lower = re.compile(rf"^[{syllables}]\d{{4}}$")
    rng = np.random.default_rng(0)
    plates = [_plate(rng) for _ in range(300)]
    assert all(whole.match(p) or upper.match(p) or lower.match(p) for p in plates), plates
    assert sum(bool(whole.match(p)) for p in plates) > 150


def test_photo_lines_are_bounded_in_charset_and_include_plates_and_english() -> None:
    corpus = default_corpus()
    rng = np.random.default_rng(1)
    lines = [corpus.sample_line(rng, 1, 25) for _ in range(400)]
    charset = set(corpus.charset)
    assert all(1 <= len(line) <= 25 and set(line) <= charset for line in lines)
    assert any(line.isascii() and line.replace(" ", "").isalpha() for line in lines)
    assert any(any(c.isdigit() for c in line) and not line.isascii() for line in lines)
