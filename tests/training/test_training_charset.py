from __future__ import annotations

import unicodedata

from training.charset import build_charset, charset_path, ksx1001_hangul, load_charset, out_of_charset


def test_committed_file_is_the_built_charset() -> None:
    assert load_charset("korean") == build_charset()
    assert charset_path("korean").read_text(encoding="utf-8").endswith(" \n")


def test_contents() -> None:
    chars = load_charset()
    hangul = [c for c in chars if "\uac00" <= c <= "\ud7a3"]
    assert len(hangul) == 2350 == len(ksx1001_hangul())
    assert {"가", "힝"} <= set(hangul) and not {"힣", "똠", "뷁"} & set(hangul)  # outside KS X 1001
    assert chars[-1] == " " and chars.count(" ") == 1
    assert len(set(chars)) == len(chars)
    assert all(len(c) == 1 and c not in "\n\r" and unicodedata.normalize("NFC", c) == c for c in chars)
    assert set("AZaz09.,!?()-%") <= set(chars) and set("·“”…「」※₩") <= set(chars)


def test_out_of_charset_reports_in_order() -> None:
    chars = load_charset()
    assert out_of_charset("한국어 OCR 2024.", chars) == []
    assert out_of_charset("漢字 똠 漢", chars) == ["漢", "字", "똠"]
    assert out_of_charset("a\nb", set(chars)) == ["\n"]
