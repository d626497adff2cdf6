from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from ocrstack.synth import bitmap_fonts
from ocrstack.synth.bitmap_fonts import (
    PcfError,
    bitmap_text_mask,
    installed_bitmap_fonts,
    read_pcf,
)
from ocrstack.synth.fonts import find_face
from ocrstack.synth.render import load_font

BAEKMUK_GULIM_12 = Path("/usr/share/fonts/X11/75dpi/gulim12.pcf.gz")

# Glyphs for the test fonts: rows of '#' and '.', the baseline under the last row but ``descent``.
GLYPHS = {
    "가": ["#..#", "#.##", "#..#", "#..#"],
    "나": ["#..#", "#.##", "####", "...#"],
    "x": ["#.#", ".#.", "#.#"],
}


def _ksc_code(char: str) -> int:
    if ord(char) < 0x80:
        return ord(char)
    first, second = char.encode("euc_kr")
    return (first & 0x7F) << 8 | (second & 0x7F)


def write_pcf(
    path: Path,
    glyphs: dict[str, list[str]],
    *,
    registry: str = "ksc5601.1987",
    family: str = "Test",
    foundry: str = "Maker",
    compressed: bool = False,
    big_endian: bool = True,
) -> None:
    """A PCF file with the four tables the reader needs, each glyph sitting one row below the baseline
    when it has four rows."""
    order = ">" if big_endian else "<"
    fmt = (0b100 | 0b1000 if big_endian else 0) | 0b10  # byte and bit order, rows padded to 4 bytes
    chars = list(glyphs)
    strings = b""
    props: list[tuple[int, int, int]] = []
    prop_values: dict[str, str | int] = {
        "FOUNDRY": foundry,
        "FAMILY_NAME": family,
        "CHARSET_REGISTRY": registry,
        "PIXEL_SIZE": 4,
        "FONT_ASCENT": 3,
        "FONT_DESCENT": 1,
    }
    for name, value in prop_values.items():
        name_at = len(strings)
        strings += name.encode() + b"\0"
        if isinstance(value, str):
            props.append((name_at, 1, len(strings)))
            strings += value.encode() + b"\0"
        else:
            props.append((name_at, 0, value))
    properties = struct.pack("<i", fmt) + struct.pack(order + "i", len(props))
    properties += b"".join(struct.pack(order + "ibi", *entry) for entry in props)
    properties += b"\0" * ((4 - len(props) % 4) % 4) + struct.pack(order + "i", len(strings)) + strings

    metrics_fmt = fmt | (0x100 if compressed else 0)
    metrics = struct.pack("<i", metrics_fmt)
    metrics += struct.pack(order + ("h" if compressed else "i"), len(chars))
    bitmaps_data, offsets = b"", []
    for char in chars:
        rows = glyphs[char]
        width, height = len(rows[0]), len(rows)
        ascent = 3 if height == 4 else height
        fields = (0, width, width + 1, ascent, height - ascent)
        if compressed:
            metrics += bytes(value + 0x80 for value in fields)
        else:
            metrics += struct.pack(order + "6h", *fields, 0)
        offsets.append(len(bitmaps_data))
        for row in rows:  # each row padded to 4 bytes, scanned a byte at a time
            bits = np.array([c == "#" for c in row.ljust(32, ".")], np.uint8)
            bitmaps_data += np.packbits(bits, bitorder="big" if big_endian else "little").tobytes()
    bitmaps = struct.pack("<i", fmt) + struct.pack(order + "i", len(chars))
    bitmaps += struct.pack(order + f"{len(chars)}i", *offsets)
    bitmaps += struct.pack(order + "4i", 0, 0, len(bitmaps_data), 0) + bitmaps_data

    codes = {_ksc_code(char) if registry.startswith("ksc") else ord(char): i for i, char in enumerate(chars)}
    rows_, cols = sorted({c >> 8 for c in codes}), sorted({c & 0xFF for c in codes})
    first_row, last_row, first_col, last_col = rows_[0], rows_[-1], cols[0], cols[-1]
    table = []
    for high in range(first_row, last_row + 1):
        for low in range(first_col, last_col + 1):
            table.append(codes.get(high << 8 | low, 0xFFFF))
    bounds = (first_col, last_col, first_row, last_row, 0)
    encodings = struct.pack("<i", fmt) + struct.pack(order + "5h", *bounds)
    encodings += struct.pack(order + f"{len(table)}H", *table)

    tables = [(1, properties), (4, metrics), (8, bitmaps), (32, encodings)]
    offset = 8 + 16 * len(tables)
    head, body = b"\x01fcp" + struct.pack("<i", len(tables)), b""
    for kind, data in tables:
        head += struct.pack("<iiii", kind, struct.unpack("<i", data[:4])[0], len(data), offset)
        body += data
        offset += len(data)
    raw = head + body
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)


def _pixels(rows: list[str]) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows])


@pytest.mark.parametrize("compressed", [False, True], ids=["metrics", "compressed-metrics"])
@pytest.mark.parametrize("big_endian", [True, False], ids=["msb", "lsb"])
def test_glyphs_come_back_as_drawn_under_their_characters(
    tmp_path: Path, compressed: bool, big_endian: bool
) -> None:
    path = tmp_path / "test4.pcf.gz"
    write_pcf(path, GLYPHS, compressed=compressed, big_endian=big_endian)
    font = read_pcf(path)
    assert (font.family, font.pixel_size, font.ascent, font.descent) == ("Maker Test", 4, 3, 1)
    assert set(font.glyphs) == {"가", "나", "x"}
    for char, rows in GLYPHS.items():
        assert np.array_equal(font.glyphs[char].pixels, _pixels(rows)), char
    assert font.covers("가나") and not font.covers("가다")


def test_an_iso10646_font_maps_codes_to_characters_directly(tmp_path: Path) -> None:
    path = tmp_path / "u.pcf"
    write_pcf(path, GLYPHS, registry="iso10646")
    assert set(read_pcf(path).glyphs) == {"가", "나", "x"}


def test_a_file_that_is_not_pcf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcf"
    path.write_bytes(b"STARTFONT 2.1\n")
    with pytest.raises(PcfError):
        read_pcf(path)


def test_a_line_sits_on_the_baseline_and_advances_glyph_by_glyph(tmp_path: Path) -> None:
    path = tmp_path / "t.pcf"
    write_pcf(path, GLYPHS)
    font = read_pcf(path)
    mask = bitmap_text_mask("가x나", font)
    assert mask.shape == (4, 5 + 4 + 5)  # advances: width + 1 each, the last glyph's too
    assert set(np.unique(mask)) == {0, 255}
    assert np.array_equal(mask[:, 0:4] > 0, _pixels(GLYPHS["가"]))
    assert np.array_equal(mask[0:3, 5:8] > 0, _pixels(GLYPHS["x"]))  # above the baseline
    assert not mask[3, 5:8].any()
    spaced = bitmap_text_mask("가 나", font, tracking=1)
    assert spaced.shape[1] == (5 + 1) + (2 + 1) + (5 + 1)  # a space missing from the strike: half of it


def test_characters_the_strike_lacks_come_from_the_fallback_or_raise(tmp_path: Path) -> None:
    path = tmp_path / "t.pcf"
    write_pcf(path, GLYPHS)
    font = read_pcf(path)
    with pytest.raises(KeyError, match="7"):
        bitmap_text_mask("가7", font)
    fallback = load_font(find_face("latin").path, font.pixel_size)
    with_digit = bitmap_text_mask("가7", font, fallback=fallback)
    assert with_digit.shape[0] == 4 and with_digit.shape[1] > 5
    assert with_digit[:, 5:].any()  # the digit drew ink after the syllable
    assert set(np.unique(with_digit)) <= {0, 255}  # no anti-aliasing


def test_installed_fonts_are_the_pcf_files_covering_the_sample(tmp_path: Path) -> None:
    write_pcf(tmp_path / "a.pcf.gz", GLYPHS)
    (tmp_path / "nested").mkdir()
    write_pcf(tmp_path / "nested" / "b.pcf", {"x": ["#"]}, registry="iso8859")
    (tmp_path / "c.pcf").write_bytes(b"not a font")
    (tmp_path / "d.ttf").write_bytes(b"")
    found = installed_bitmap_fonts("가나", folders=(tmp_path,))
    assert found == [tmp_path / "a.pcf.gz"]
    assert installed_bitmap_fonts("가나다", folders=(tmp_path,)) == []


@pytest.mark.skipif(not BAEKMUK_GULIM_12.exists(), reason="xfonts-baekmuk is not installed")
def test_baekmuk_strikes_draw_the_ks_x_1001_syllables_in_their_size() -> None:
    font = bitmap_fonts.load_bitmap_font(BAEKMUK_GULIM_12)
    assert font.family == "Baekmuk Gulim" and font.pixel_size == 12
    syllables = [bytes([a, b]).decode("euc_kr") for a in range(0xB0, 0xC9) for b in range(0xA1, 0xFF)]
    assert font.covers("".join(syllables))  # all 2,350
    mask = bitmap_text_mask("이전 페이지", font)
    assert mask.shape[0] == 12 and 50 < mask.shape[1] < 80
    assert 0.1 < (mask > 0).mean() < 0.5
