"""Bitmap fonts (X11 PCF files): the hand-drawn pixel glyphs screens use for small Korean text.

Korean web pages, forms and app screens set text of 9-16 pixels in bitmap strikes (Gulim and Dotum at
12 px are the classic ones): each glyph is a designed grid of whole pixels, not an outline shrunk and
thresholded, and small letters take shapes no outline font has at any size (ㅇ drawn as an octagon that
reads as ㅁ to a model that never saw one). Debian's ``xfonts-baekmuk`` ships such strikes, 10 to 24
pixels, as PCF files, which Pillow's FreeType path cannot draw for this encoding (KS X 1001 codes, not
Unicode), so this module reads them itself.

A PCF file is a table of contents and tables; the ones read here are the properties (family, pixel size,
charset, ascent), the metrics, the bitmaps and the encoding table. Glyph codes map to characters through
the file's ``CHARSET_REGISTRY``: KS X 1001 (``ksc5601.1987``) through the ``euc_kr`` codec (codes below
0x80 as ASCII), ISO 10646
directly, ISO 8859-1 through Latin-1.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ocrstack.synth.fonts import FONT_DIRS

PCF_MAGIC = b"\x01fcp"
# Table types (the table of contents names each table by one of these bits).
PCF_PROPERTIES = 1 << 0
PCF_METRICS = 1 << 2
PCF_BITMAPS = 1 << 3
PCF_BDF_ENCODINGS = 1 << 5
# Format bits of a table.
PCF_GLYPH_PAD_MASK = 0b11
PCF_BYTE_MSB_FIRST = 1 << 2
PCF_BIT_MSB_FIRST = 1 << 3
PCF_SCAN_UNIT_MASK = 0b11 << 4
PCF_COMPRESSED_METRICS = 0x100
NO_GLYPH = 0xFFFF
PCF_SUFFIXES = (".pcf", ".pcf.gz")


class PcfError(ValueError):
    """The file is not a PCF font this reader understands."""


@dataclass(frozen=True)
class Glyph:
    """One glyph: its pixels (``bool [ascent + descent, right - left]``) and where they sit."""

    pixels: np.ndarray
    left: int  # left side bearing: from the pen position to the first column
    advance: int  # how far the pen moves
    ascent: int  # rows above the baseline


@dataclass(frozen=True)
class BitmapFont:
    """A bitmap strike: ``glyphs`` by character, every glyph ``pixel_size`` pixels tall at most.

    ``family``: the foundry and family name ("Baekmuk Dotum"), as the outline fonts of the same design
    are named, so that a held-out font family is held out in both forms."""

    path: Path
    family: str
    pixel_size: int
    ascent: int
    descent: int
    bold: bool
    glyphs: dict[str, Glyph]

    def covers(self, text: str) -> bool:
        return all(char in self.glyphs for char in text)


class _Reader:
    """Reads one table's fields in the byte order its format word declares."""

    def __init__(self, data: bytes, offset: int) -> None:
        (self.format,) = struct.unpack_from("<i", data, offset)
        self.order = ">" if self.format & PCF_BYTE_MSB_FIRST else "<"
        self.data, self.pos = data, offset + 4

    def read(self, code: str) -> tuple[int, ...]:
        values = struct.unpack_from(self.order + code, self.data, self.pos)
        self.pos += struct.calcsize(self.order + code)
        return values

    def one(self, code: str) -> int:
        return self.read(code)[0]


def _tables(data: bytes) -> dict[int, int]:
    """Table type -> offset of its format word."""
    if data[:4] != PCF_MAGIC:
        raise PcfError("not a PCF font (bad magic)")
    (count,) = struct.unpack_from("<i", data, 4)
    tables = {}
    for i in range(count):
        kind, _, _, offset = struct.unpack_from("<iiii", data, 8 + 16 * i)
        tables[kind] = offset
    missing = {PCF_METRICS, PCF_BITMAPS, PCF_BDF_ENCODINGS} - tables.keys()
    if missing:
        raise PcfError(f"PCF font without the tables {sorted(missing)}")
    return tables


def _properties(data: bytes, offset: int | None) -> dict[str, str | int]:
    if offset is None:
        return {}
    reader = _Reader(data, offset)
    count = reader.one("i")
    entries = [reader.read("ibi") for _ in range(count)]
    reader.pos += (4 - count % 4) % 4
    size = reader.one("i")
    strings = data[reader.pos : reader.pos + size]

    def text_at(start: int) -> str:
        return strings[start : strings.index(b"\0", start)].decode("latin-1")

    return {text_at(name): text_at(value) if is_text else value for name, is_text, value in entries}


def _metrics(data: bytes, offset: int) -> list[tuple[int, int, int, int, int]]:
    """(left bearing, right bearing, advance, ascent, descent) per glyph."""
    reader = _Reader(data, offset)
    if reader.format & PCF_COMPRESSED_METRICS:
        count = reader.one("h")
        return [tuple(value - 0x80 for value in reader.read("5B")) for _ in range(count)]  # type: ignore[misc]
    count = reader.one("i")
    return [reader.read("6h")[:5] for _ in range(count)]  # type: ignore[misc]


def _bitmaps(data: bytes, offset: int, metrics: list[tuple[int, int, int, int, int]]) -> list[np.ndarray]:
    reader = _Reader(data, offset)
    count = reader.one("i")
    if count != len(metrics):
        raise PcfError(f"{count} bitmaps for {len(metrics)} glyph metrics")
    starts = reader.read(f"{count}i")
    sizes = reader.read("4i")
    pad = 1 << (reader.format & PCF_GLYPH_PAD_MASK)
    unit = 1 << ((reader.format & PCF_SCAN_UNIT_MASK) >> 4)
    blob = np.frombuffer(data, np.uint8, sizes[reader.format & PCF_GLYPH_PAD_MASK], reader.pos)
    if unit > 1 and (reader.format & PCF_BYTE_MSB_FIRST) != (reader.format & PCF_BIT_MSB_FIRST) >> 1:
        # Bytes within a scan unit are stored in the other order than the bits: swap them back.
        blob = blob.reshape(-1, unit)[:, ::-1].reshape(-1)
    bit_order: Literal["big", "little"] = "big" if reader.format & PCF_BIT_MSB_FIRST else "little"
    glyphs = []
    for start, (left, right, _, ascent, descent) in zip(starts, metrics, strict=True):
        width, height = max(0, right - left), max(0, ascent + descent)
        stride = -(-max(1, -(-width // 8)) // pad) * pad
        rows = blob[start : start + stride * height].reshape(height, stride)
        bits = np.unpackbits(rows, axis=1, bitorder=bit_order)[:, :width]
        glyphs.append(bits.astype(bool))
    return glyphs


def _encodings(data: bytes, offset: int) -> dict[int, int]:
    """Glyph code (``byte1 << 8 | byte2``) -> glyph index."""
    reader = _Reader(data, offset)
    first_col, last_col, first_row, last_row, _ = reader.read("5h")
    columns = last_col - first_col + 1
    indices = reader.read(f"{columns * (last_row - first_row + 1)}H")
    return {
        (first_row + i // columns) << 8 | (first_col + i % columns): index
        for i, index in enumerate(indices)
        if index != NO_GLYPH
    }


def _decoder(registry: str):
    """Glyph code -> character (or None) for the font's charset."""
    registry = registry.lower()
    if registry.startswith("ksc5601"):

        def korean(code: int) -> str | None:
            if code < 0x80:  # single-byte codes are ASCII, as in EUC-KR
                return chr(code)
            try:
                return bytes([(code >> 8) | 0x80, (code & 0xFF) | 0x80]).decode("euc_kr")
            except UnicodeDecodeError:
                return None

        return korean
    if registry.startswith("iso10646"):
        return chr
    if registry.startswith("iso8859"):
        return lambda code: chr(code) if code < 0x100 else None
    raise PcfError(f"charset {registry!r} is not read here")


def read_pcf(path: str | Path) -> BitmapFont:
    """Parse a ``.pcf`` or ``.pcf.gz`` file."""
    path = Path(path)
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    tables = _tables(data)
    props = _properties(data, tables.get(PCF_PROPERTIES))
    metrics = _metrics(data, tables[PCF_METRICS])
    bitmaps = _bitmaps(data, tables[PCF_BITMAPS], metrics)
    decode = _decoder(str(props.get("CHARSET_REGISTRY", "iso10646")))
    glyphs = {}
    for code, index in _encodings(data, tables[PCF_BDF_ENCODINGS]).items():
        char = decode(code)
        if char is not None and index < len(metrics):
            left, _, advance, ascent, _ = metrics[index]
            glyphs[char] = Glyph(bitmaps[index], left, advance, ascent)
    ascent = int(props.get("FONT_ASCENT", max(m[3] for m in metrics)))
    descent = int(props.get("FONT_DESCENT", max(m[4] for m in metrics)))
    return BitmapFont(
        path=path,
        family=" ".join(str(props[key]) for key in ("FOUNDRY", "FAMILY_NAME") if props.get(key))
        or path.name.split(".")[0],
        pixel_size=int(props.get("PIXEL_SIZE", ascent + descent)),
        ascent=ascent,
        descent=descent,
        bold=str(props.get("WEIGHT_NAME", "")).lower() == "bold",
        glyphs=glyphs,
    )


@lru_cache(maxsize=64)
def load_bitmap_font(path: str | Path) -> BitmapFont:
    """:func:`read_pcf`, once per file."""
    return read_pcf(path)


def installed_bitmap_fonts(sample: str = "가각간한국어", folders: tuple[Path, ...] = FONT_DIRS) -> list[Path]:
    """The installed PCF files whose glyphs cover ``sample`` (Hangul by default), sorted."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if p.name.endswith(PCF_SUFFIXES) and p.is_file()]
    covering = []
    for path in sorted(found):
        try:
            if load_bitmap_font(path).covers(sample):
                covering.append(path)
        except (PcfError, OSError, struct.error):
            continue  # another charset or a damaged file: not a font to draw Hangul with
    return covering


def _fallback_glyph(char: str, font: BitmapFont, fallback: ImageFont.FreeTypeFont) -> Glyph:
    """A character the strike lacks, drawn by an outline font without anti-aliasing on its baseline, as
    a screen sets the Latin letters and digits of a Korean line in another face."""
    advance = max(1, round(fallback.getlength(char)))
    height = font.ascent + font.descent
    image = Image.new("1", (advance + font.pixel_size, height), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text((0, font.ascent), char, font=fallback, fill=1, anchor="ls")
    return Glyph(np.asarray(image, dtype=bool), 0, advance, font.ascent)


def bitmap_text_mask(
    text: str, font: BitmapFont, tracking: int = 0, fallback: ImageFont.FreeTypeFont | None = None
) -> np.ndarray:
    """``text`` drawn with the strike's pixels: uint8 0/255 ``[ascent + descent, W]``, no anti-aliasing.

    Characters the strike lacks are drawn with ``fallback`` (an outline font at about the strike's pixel
    size) or, without one, raise ``KeyError``; a space the strike lacks advances by half the strike.
    ``tracking``: extra whole pixels between characters.
    """
    missing = sorted({char for char in text if char != " " and char not in font.glyphs})
    if missing and fallback is None:
        raise KeyError(f"{font.family} {font.pixel_size}px has no glyph for {''.join(missing)!r}")
    # Each missing character drawn once, however often the line repeats it.
    drawn = {char: _fallback_glyph(char, font, fallback) for char in missing} if fallback else {}
    glyphs = font.glyphs | drawn
    height = font.ascent + font.descent
    pen, placed = 0, []
    for char in text:
        if char not in glyphs:  # a space the strike lacks
            pen += max(1, font.pixel_size // 2) + tracking
            continue
        glyph = glyphs[char]
        placed.append((pen + glyph.left, font.ascent - glyph.ascent, glyph.pixels))
        pen += glyph.advance + tracking
    shift = max([0] + [-x for x, _, _ in placed])  # a first glyph that starts left of the pen
    width = max([pen + shift] + [x + shift + pixels.shape[1] for x, _, pixels in placed])
    mask = np.zeros((height, max(1, width)), np.uint8)
    for x, y, pixels in placed:
        top, bottom = max(0, y), min(height, y + pixels.shape[0])
        block = pixels[top - y : bottom - y]
        mask[top:bottom, x + shift : x + shift + block.shape[1]] |= np.where(block, 255, 0).astype(np.uint8)
    return mask
