"""Font discovery and glyph coverage, on the fonts `make setup` installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import ImageFont

from ocrstack.synth import fonts
from ocrstack.synth.fonts import (
    FONT_SUFFIXES,
    FontNotFoundError,
    covers,
    face_index,
    find_face,
    find_font,
    font_codepoints,
    font_families,
    fonts_covering,
    glyph_ink,
    installed_fonts,
    mapped_codepoints,
    misdrawn_chars,
    missing_chars,
)

HANGUL = "한국어 문자 인식"
HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)


@pytest.fixture
def fresh_font_cache() -> Iterator[None]:
    fonts._installed_faces.cache_clear()
    yield
    fonts._installed_faces.cache_clear()


def _latin_only_font():
    """An installed font with Latin letters and no Hangul syllable at all (DejaVu Sans here)."""
    for path in installed_fonts():
        codepoints = font_codepoints(path)
        if covers(path, "Hello") and not any(c in codepoints for c in HANGUL_SYLLABLES):
            return path
    pytest.fail("no Latin-only font installed (fonts-dejavu-core)")


def test_installed_fonts_are_scalable_files() -> None:
    found = installed_fonts()
    assert found, "no fonts found; run `make setup`"
    assert all(path.is_file() and path.suffix.lower() in FONT_SUFFIXES for path in found)
    assert found == sorted(set(found))


def test_families_map_names_to_files() -> None:
    families = font_families()
    assert "DejaVu Sans" in families
    # Korean fonts declare a Latin and a Hangul family name; both lead to the same file.
    assert families["NanumGothic"] == families["나눔고딕"]


def test_coverage_rejects_latin_only_font_for_hangul() -> None:
    latin = _latin_only_font()
    assert covers(latin, "Hello, world 123")
    assert not covers(latin, HANGUL)
    assert missing_chars(latin, "a한b국") == "한국"
    covering = fonts_covering(HANGUL)
    assert covering and latin not in covering
    assert all(covers(path, HANGUL) for path in covering)


def test_coverage_counts_every_character() -> None:
    hangul = find_font("hangul")
    assert covers(hangul, HANGUL)
    assert not covers(hangul, HANGUL + "\U0001f600")  # an emoji no Korean font here draws


@pytest.mark.parametrize(
    ("script", "text"), [("latin", "Quick brown fox 42"), ("hangul", HANGUL), ("han", "汉字識別")]
)
def test_find_font_covers_its_script(script: fonts.Script, text: str) -> None:
    face = find_face(script)
    assert find_font(script) == face.path
    assert covers(face.path, text)
    assert find_font(script) == find_font(script)


def test_find_face_picks_the_face_of_a_collection() -> None:
    face = find_face("han")
    for family in face.families:
        assert face_index(face.path, family) == face.index
    assert face_index(face.path, "no such family") == 0


def test_no_covering_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "_installed_faces", lambda: ())
    assert fonts_covering(HANGUL) == []
    with pytest.raises(FontNotFoundError, match="apt-get install"):
        find_font("hangul")


def test_unknown_script_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown script"):
        find_font("klingon")  # type: ignore[arg-type]


def test_discovery_without_fontconfig(monkeypatch: pytest.MonkeyPatch, fresh_font_cache: None) -> None:
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    found = installed_fonts()
    assert found and all(path.suffix.lower() in FONT_SUFFIXES for path in found)
    assert "DejaVu Sans" in font_families()  # read from the fonts' name tables
    assert covers(find_font("hangul"), HANGUL)


def _family_font(family: str) -> Path:
    paths = font_families().get(family)
    if not paths:
        pytest.fail(f"{family} is not installed; run `make setup`")
    return paths[0]


def test_glyph_checks_tell_the_characters_from_what_legacy_fonts_draw_instead() -> None:
    latin = ImageFont.truetype(str(_family_font("DejaVu Sans")), fonts.GLYPH_CHECK_SIZE)
    backslash, tilde = fonts.GLYPH_CHECKS["\\"], fonts.GLYPH_CHECKS["~"]
    assert backslash(glyph_ink(latin, "\\"))
    assert not any(backslash(glyph_ink(latin, char)) for char in "/₩|-W")
    assert tilde(glyph_ink(latin, "~"))
    assert not any(tilde(glyph_ink(latin, char)) for char in "-_‾—")


def test_a_backslash_drawn_as_a_won_sign_is_not_coverage() -> None:
    korean_ascii = _family_font("NanumGothic")  # KS X 1003: its U+005C is a won sign
    assert ord("\\") in mapped_codepoints(korean_ascii)
    assert misdrawn_chars(korean_ascii) == "\\"
    assert not covers(korean_ascii, "C:\\dir") and covers(korean_ascii, "C:/dir ~")
    assert covers(_family_font("DejaVu Sans"), "C:\\dir ~")
    assert covers(_family_font("UnBatang"), "C:\\dir ~")


def test_a_tilde_drawn_as_a_flat_bar_is_not_coverage() -> None:
    dotum = _family_font("Baekmuk Dotum")
    assert {ord("~"), ord("\\")} <= mapped_codepoints(dotum)
    assert misdrawn_chars(dotum) == "\\~"
    assert missing_chars(dotum, "a~b\\c-") == "~\\"
