"""Text for synthetic training lines, from offline sources only.

Korean: the hunspell-ko dictionary (stored as decomposed jamo, normalised to NFC here), wordfreq's
Korean list when wordfreq is installed (it ships its lists inside the wheel), and the 2,350 KS X 1001
syllables themselves so that rare syllables are seen too. English: wordfreq's English list, else the
hunspell-en dictionary when present, else a small built-in list. Mixed in: numbers, dates, prices,
phone numbers and punctuation, as in signs, receipts and documents.

Every source is filtered to the charset; what is dropped is counted in :class:`CorpusStats`, never
silently lost. Sampling draws only from a ``numpy.random.Generator``, so one seed gives one text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from training.charset import ksx1001_hangul, load_charset, out_of_charset

# The syllables Korean plates use (private, rental, commercial) and the regions older plates carry.
PLATE_SYLLABLES = tuple("가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주아바사자배하허호")
PLATE_REGIONS = (
    "서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기",
    "강원", "충북", "충남", "전북", "전남", "경북", "경남", "제주",
)  # fmt: skip
HUNSPELL_KO = Path("/usr/share/hunspell/ko_KR.dic")
HUNSPELL_EN = Path("/usr/share/hunspell/en_US.dic")
WORDFREQ_KO_WORDS = 30_000
WORDFREQ_EN_WORDS = 20_000
FALLBACK_ENGLISH = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "by",
    "at",
    "from",
    "open",
    "close",
    "sale",
    "new",
    "free",
    "exit",
    "entry",
    "push",
    "pull",
    "stop",
    "menu",
    "coffee",
    "tea",
    "hotel",
    "bank",
    "bus",
    "station",
    "airport",
    "parking",
    "toilet",
    "information",
    "office",
    "center",
    "service",
    "Seoul",
    "Busan",
    "Korea",
    "OCR",
    "PDF",
    "USB",
    "Wi-Fi",
    "email",
    "phone",
    "mobile",
    "price",
    "total",
    "date",
    "time",
    "page",
    "report",
]

WRAPS = (("(", ")"), ("[", "]"), ("“", "”"), ("‘", "’"), ("「", "」"), ("『", "』"), ("<", ">"), ("【", "】"))
TRAILING = (".", ",", "!", "?", ":", ";", "…", "~", "·", "%", "원", "개", "명")
SYMBOLS = ("※", "·", "-", "/", "&", "+", "=", "*", "#", "@", "→", "○", "●", "★", "■", "…")


@dataclass
class CorpusStats:
    hunspell_kept: int = 0
    hunspell_dropped: int = 0
    wordfreq_ko: int = 0
    wordfreq_en: int = 0
    english_source: str = ""
    dropped_examples: list[str] = field(default_factory=list)


def read_hunspell(path: Path, charset: set[str]) -> tuple[list[str], int, list[str]]:
    """Dictionary words (NFC, affix flags after '/' removed) inside the charset, in file order; the
    number dropped, and a few dropped words as examples."""
    kept, dropped = [], []
    lines = path.read_text(encoding="utf-8").split("\n")[1:]  # first line: the word count
    for line in lines:
        word = unicodedata.normalize("NFC", line.split("/", 1)[0].strip())
        if not word:
            continue
        if all(char in charset for char in word):
            kept.append(word)
        else:
            dropped.append(word)
    return list(dict.fromkeys(kept)), len(dropped), dropped[:10]


def wordfreq_words(lang: str, n: int, charset: set[str]) -> list[str]:
    """The ``n`` most frequent words of ``lang`` inside the charset; [] without wordfreq."""
    try:
        from wordfreq import top_n_list
    except ImportError:
        return []
    words = (unicodedata.normalize("NFC", word) for word in top_n_list(lang, n))
    return [word for word in words if word.strip() and all(char in charset for char in word)]


def _english_words(charset: set[str], stats: CorpusStats) -> list[str]:
    words = wordfreq_words("en", WORDFREQ_EN_WORDS, charset)
    stats.wordfreq_en, stats.english_source = len(words), "wordfreq"
    if not words and HUNSPELL_EN.exists():
        words, _, _ = read_hunspell(HUNSPELL_EN, charset)
        stats.english_source = "hunspell-en"
    if not words:
        words, stats.english_source = list(FALLBACK_ENGLISH), "built-in"
    return words


class Corpus:
    """Word pools and a sampler of mixed Korean/English lines."""

    def __init__(self, charset: Sequence[str] | None = None) -> None:
        self.charset = set(charset or load_charset("korean"))
        self.stats = CorpusStats()
        self.hunspell: list[str] = []
        if HUNSPELL_KO.exists():
            self.hunspell, dropped, examples = read_hunspell(HUNSPELL_KO, self.charset)
            self.stats.hunspell_kept, self.stats.hunspell_dropped = len(self.hunspell), dropped
            self.stats.dropped_examples = examples
        self.wordfreq_ko = wordfreq_words("ko", WORDFREQ_KO_WORDS, self.charset)
        self.stats.wordfreq_ko = len(self.wordfreq_ko)
        self.syllables = ksx1001_hangul()
        self.english = _english_words(self.charset, self.stats)
        korean = self.hunspell or self.wordfreq_ko or self.syllables
        # (weight, token maker): Korean dominates; the rest is what Korean signs and documents mix in.
        self._kinds: list[tuple[float, Callable[[np.random.Generator], str]]] = [
            (0.34, lambda rng: _pick(rng, korean)),
            (0.16, lambda rng: _pick(rng, self.wordfreq_ko or korean)),
            (0.10, self._syllable_run),
            (0.14, self._english_word),
            (0.06, _number),
            (0.05, _date),
            (0.05, _price),
            (0.03, _phone),
            (0.03, _time),
            (0.04, lambda rng: _pick(rng, SYMBOLS)),
        ]
        weights = np.array([weight for weight, _ in self._kinds])
        self._weights = weights / weights.sum()

    def _syllable_run(self, rng: np.random.Generator) -> str:
        """1-4 uniformly drawn syllables: coverage of syllables no word list uses."""
        return "".join(_pick(rng, self.syllables) for _ in range(int(rng.integers(1, 5))))

    def _english_word(self, rng: np.random.Generator) -> str:
        word = _pick(rng, self.english)
        case = rng.random()
        return word.upper() if case < 0.15 else word.capitalize() if case < 0.4 else word

    def token(self, rng: np.random.Generator) -> str:
        kind = int(rng.choice(len(self._kinds), p=self._weights))
        token = self._kinds[kind][1](rng)
        roll = rng.random()
        if roll < 0.08:
            opening, closing = WRAPS[int(rng.integers(len(WRAPS)))]
            token = f"{opening}{token}{closing}"
        elif roll < 0.22:
            token += _pick(rng, TRAILING)
        return token

    def sample_text(self, rng: np.random.Generator, min_chars: int = 1, max_chars: int = 25) -> str:
        """A line of ``min_chars``..``max_chars`` characters (length drawn uniformly), no leading,
        trailing or doubled spaces, every character inside the charset."""
        if not 1 <= min_chars <= max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        target = int(rng.integers(min_chars, max_chars + 1))
        text = ""
        while len(text) < target:
            # Korean is written with spaces between words; a few joins without one mimic compounds
            # and tight signage.
            joiner = "" if not text or rng.random() < 0.1 else " "
            text += joiner + self.token(rng)
        text = text[:max_chars].strip()
        while len(text) < min_chars:
            text += _pick(rng, self.syllables)
        return text

    def sample_line(self, rng: np.random.Generator, min_chars: int = 1, max_chars: int = 25) -> str:
        """A line as photographs show them: mostly :meth:`sample_text`, and, more often than running
        text has them, licence plates, all-English lines and lines dense with digits and prices."""
        roll = rng.random()
        if roll < 0.10:
            line = _plate(rng)
        elif roll < 0.18:
            line = " ".join(self._english_word(rng) for _ in range(int(rng.integers(1, 6))))
        elif roll < 0.26:
            makers = (_price, _number, _phone, _date, _time)
            line = " ".join(
                makers[int(rng.integers(len(makers)))](rng) for _ in range(int(rng.integers(1, 4)))
            )
        else:
            return self.sample_text(rng, min_chars, max_chars)
        if min_chars <= len(line) <= max_chars and not out_of_charset(line, self.charset):
            return line
        return self.sample_text(rng, min_chars, max_chars)


def _plate(rng: np.random.Generator) -> str:
    """A Korean licence plate as read row by row: "12가3456", "123가4567", "서울12가3456", or one row of
    a two-row plate ("서울71", "바8669"); sometimes with the gap before the last four digits."""
    number = f"{int(rng.integers(10, 1000)) if rng.random() < 0.5 else int(rng.integers(10, 100))}"
    syllable = _pick(rng, PLATE_SYLLABLES)
    serial = f"{int(rng.integers(0, 10000)):04d}"
    region = _pick(rng, PLATE_REGIONS) if rng.random() < 0.35 else ""
    roll = rng.random()
    if roll < 0.15:
        return f"{region}{number}"
    if roll < 0.3:
        return f"{syllable}{serial}"
    gap = " " if rng.random() < 0.2 else ""
    return f"{region}{number}{syllable}{gap}{serial}"


def _pick(rng: np.random.Generator, pool: Sequence[str]) -> str:
    return pool[int(rng.integers(len(pool)))]


def _number(rng: np.random.Generator) -> str:
    value = int(10 ** rng.uniform(0, 7))
    return f"{value:,}" if rng.random() < 0.5 else str(value)


def _date(rng: np.random.Generator) -> str:
    year, month, day = int(rng.integers(1950, 2036)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    style = int(rng.integers(4))
    if style == 0:
        return f"{year}년 {month}월 {day}일"
    if style == 1:
        return f"{year}-{month:02d}-{day:02d}"
    return f"{year}.{month:02d}.{day:02d}" if style == 2 else f"{month}/{day}"


def _price(rng: np.random.Generator) -> str:
    amount = int(rng.integers(1, 2000)) * int(_pick(rng, ("10", "100", "1000")))
    style = int(rng.integers(4))
    if style == 0:
        return f"{amount:,}원"
    if style == 1:
        return f"₩{amount:,}"
    return f"${amount / 100:,.2f}" if style == 2 else f"{amount // 10000 or 1}만원"


def _phone(rng: np.random.Generator) -> str:
    prefix = _pick(rng, ("010", "02", "031", "051", "070", "1588"))
    if prefix == "1588":
        return f"1588-{int(rng.integers(10000)):04d}"
    return f"{prefix}-{int(rng.integers(100, 10000)):d}-{int(rng.integers(10000)):04d}"


def _time(rng: np.random.Generator) -> str:
    hour, minute = int(rng.integers(24)), int(rng.integers(60))
    return f"{hour:02d}:{minute:02d}" if rng.random() < 0.6 else f"오후 {hour % 12 + 1}시 {minute}분"


@lru_cache(maxsize=1)
def default_corpus() -> Corpus:
    """The corpus over the committed Korean charset, built once per process (about a second)."""
    return Corpus()


def sample_text(rng: np.random.Generator, min_chars: int = 1, max_chars: int = 25) -> str:
    """:meth:`Corpus.sample_text` of :func:`default_corpus`."""
    return default_corpus().sample_text(rng, min_chars, max_chars)
