"""Installed fonts: discovery by family, glyph coverage, and a font per script.

Coverage is read from each font's character map (``cmap``) with fontTools: a character is covered when the
font maps its code point to a glyph. This is exact and cheap (the table is read lazily, once per font),
unlike comparing rendered glyphs against ``.notdef``, which misjudges fonts whose ``.notdef`` is blank or
whose real glyphs happen to look like it. Two code points are also checked by the shape of their glyph
(:data:`GLYPH_CHECKS`): fonts made for the Korean variant of ASCII map them but draw other characters.

A collection file (``.ttc``) holds several faces; Pillow draws face 0 unless told otherwise, so the face
of a wanted family is available from :func:`face_index` and :func:`find_face`.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont

Script = Literal["latin", "hangul", "han"]

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".local/share/fonts")
FONT_SUFFIXES = frozenset({".ttf", ".otf", ".ttc", ".otc"})

# A font is taken for a script when it covers every character of its sample. The Hangul sample spans the
# syllable block's ends; the Han one includes simplified forms, which Korean Hanja fonts lack and the
# Chinese recognizer reads.
SCRIPT_SAMPLES: dict[Script, str] = {
    "latin": "ABCXYZ abcxyz 0123456789 .,:;!?()-'\"",
    "hangul": "가각간힣 한국어 읽기 글자",
    "han": "中文汉字漢字国语國語简体繁體",
}
# Tried first, in this order, so that the choice does not depend on directory order; any other font
# covering the sample comes after them.
PREFERRED_FAMILIES: dict[Script, tuple[str, ...]] = {
    "latin": ("DejaVu Sans", "Noto Sans", "Liberation Sans"),
    "hangul": ("NanumGothic", "Noto Sans CJK KR", "UnDotum", "Baekmuk Gulim"),
    "han": ("Noto Sans CJK SC", "Noto Serif CJK SC", "Noto Sans CJK TC"),
}
# Debian packages that provide them, named in the error when none is installed.
SCRIPT_PACKAGES: dict[Script, str] = {
    "latin": "fonts-dejavu-core",
    "hangul": "fonts-nanum fonts-noto-cjk fonts-unfonts-core fonts-baekmuk",
    "han": "fonts-noto-cjk",
}


class FontNotFoundError(LookupError):
    """No installed font covers what was asked for."""


@dataclass(frozen=True)
class FontFace:
    """One face: a font file and the face's index in it (0 unless the file is a collection)."""

    path: Path
    index: int
    families: tuple[str, ...]


def installed_faces() -> list[FontFace]:
    """Every scalable face fontconfig knows, or, without fontconfig, one per font file in the usual
    folders (face 0, family from the font's name table). Read once per process."""
    return list(_installed_faces())


@lru_cache(maxsize=1)
def _installed_faces() -> tuple[FontFace, ...]:
    return _fontconfig_faces() or tuple(
        FontFace(path, 0, _families_from_file(path)) for path in _scan_font_dirs()
    )


def installed_fonts() -> list[Path]:
    return sorted({face.path for face in installed_faces()})


def font_families() -> dict[str, list[Path]]:
    """Family name -> font files. A file belongs to every family it declares (a Korean font often
    declares a Latin and a Hangul name)."""
    families: dict[str, set[Path]] = {}
    for face in installed_faces():
        for name in face.families:
            families.setdefault(name, set()).add(face.path)
    return {name: sorted(paths) for name, paths in sorted(families.items())}


def face_index(path: Path, family: str) -> int:
    """Index of the face of ``path`` that declares ``family``; 0 when none does."""
    for face in installed_faces():
        if face.path == Path(path) and family in face.families:
            return face.index
    return 0


def _fontconfig_faces() -> tuple[FontFace, ...]:
    if shutil.which("fc-list") is None:
        return ()
    try:
        listing = subprocess.run(
            ["fc-list", "--format", "%{file}\t%{index}\t%{family}\n"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ()
    faces = set()
    for line in listing.splitlines():
        file, index, names = [*line.split("\t"), "", ""][:3]
        path = Path(file)
        # Bitmap and Type 1 fonts are left out: neither Pillow nor fontTools reads them reliably.
        if path.suffix.lower() in FONT_SUFFIXES and index.isdigit():
            faces.add(FontFace(path, int(index), tuple(n for n in names.split(",") if n)))
    return tuple(sorted(faces, key=lambda face: (str(face.path), face.index)))


def _scan_font_dirs() -> list[Path]:
    found = {
        path
        for folder in FONT_DIRS
        if folder.is_dir()
        for path in folder.rglob("*")
        if path.suffix.lower() in FONT_SUFFIXES and path.is_file()
    }
    return sorted(found)


def _families_from_file(path: Path) -> tuple[str, ...]:
    try:
        with _open_font(path) as font:
            name = font["name"].getDebugName(1)  # name ID 1: font family
    except (TTLibError, OSError, KeyError):
        return ()
    return (name,) if name else ()


def _open_font(path: Path) -> TTFont:
    # Face 0 of a collection: the faces of one collection share their character map.
    return TTFont(path, fontNumber=0, lazy=True)


@lru_cache(maxsize=256)
def mapped_codepoints(path: Path) -> frozenset[int]:
    """Code points the font's character map maps to a glyph, whatever the glyph shows; empty for a file
    fontTools cannot read."""
    try:
        with _open_font(path) as font:
            cmap = font.getBestCmap()
    except (TTLibError, OSError, KeyError, AssertionError):
        return frozenset()
    return frozenset(cmap or ())


@lru_cache(maxsize=256)
def font_codepoints(path: Path) -> frozenset[int]:
    """Code points the font maps to a glyph that shows them (see :data:`GLYPH_CHECKS`); empty for a file
    fontTools cannot read."""
    return mapped_codepoints(path) - {ord(char) for char in misdrawn_chars(path)}


def _falls_left_to_right(ink: np.ndarray) -> bool:
    """A backslash: row by row, the ink's centre moves right as it goes down."""
    centres = [(row, np.flatnonzero(line).mean()) for row, line in enumerate(ink) if line.any()]
    if len(centres) < 3:
        return False
    rows, columns = np.array(centres).T
    return bool(columns.std() > 0 and np.corrcoef(rows, columns)[0, 1] >= 0.9)


def _rises_and_falls(ink: np.ndarray) -> bool:
    """A tilde: column by column, the ink's centre moves up and down by a good part of its height."""
    inked_rows = np.flatnonzero(ink.any(axis=1))
    centres = [np.flatnonzero(column).mean() for column in ink.T if column.any()]
    if not centres:
        return False
    height = inked_rows[-1] - inked_rows[0] + 1
    return bool(max(centres) - min(centres) >= 0.15 * height)


# Fonts made for KS X 1003, the Korean variant of ASCII, map U+005C and U+007E but draw a won sign and an
# overline or a flat bar there: a line drawn with them would be labelled with characters its image does
# not show. Over the installed Hangul fonts, the row-to-centre correlation of a real backslash is 1.00
# and of a won sign at most 0.76; a real tilde's ink centre moves by 0.31 to 0.84 of its height, a flat
# bar's by 0.00.
GLYPH_CHECKS: dict[str, Callable[[np.ndarray], bool]] = {"\\": _falls_left_to_right, "~": _rises_and_falls}
GLYPH_CHECK_SIZE = 96  # pixels per em: big enough that the shapes are not a few pixels of antialiasing


def misdrawn_chars(path: Path) -> str:
    """The characters of :data:`GLYPH_CHECKS` that the font maps but draws as something else; none when
    Pillow cannot open the font (then it cannot be drawn with either)."""
    checked = [char for char in GLYPH_CHECKS if ord(char) in mapped_codepoints(path)]
    if not checked:
        return ""
    try:
        font = ImageFont.truetype(str(path), GLYPH_CHECK_SIZE)
    except OSError:
        return ""
    return "".join(char for char in checked if not GLYPH_CHECKS[char](glyph_ink(font, char)))


def glyph_ink(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    """Where the glyph of ``char`` puts ink (boolean, cropped to its box with a margin)."""
    box = font.getbbox(char)
    left, top, right, bottom = math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])
    margin = 4
    image = Image.new("L", (max(right - left, 1) + 2 * margin, max(bottom - top, 1) + 2 * margin), 0)
    ImageDraw.Draw(image).text((margin - left, margin - top), char, font=font, fill=255)
    return np.asarray(image) > 127


def missing_chars(path: Path, text: str) -> str:
    """The distinct characters of ``text`` the font has no glyph for, or draws as another character (see
    :func:`font_codepoints`), in order of appearance."""
    codepoints = font_codepoints(Path(path))
    return "".join(dict.fromkeys(char for char in text if ord(char) not in codepoints))


def covers(path: Path, text: str) -> bool:
    """Whether the font has a glyph for every character of ``text``, spaces included (a missing space
    would be drawn as a ``.notdef`` box)."""
    return not missing_chars(path, text)


def fonts_covering(text: str, fonts: Iterable[Path] | None = None) -> list[Path]:
    """The fonts (by default every installed one) that cover ``text``, in path order."""
    candidates = installed_fonts() if fonts is None else fonts
    return sorted(Path(path) for path in candidates if covers(path, text))


def faces_for_script(script: Script) -> list[FontFace]:
    """Faces covering the script's sample: those of the preferred families first, in their order, then
    face 0 of every other covering file, regular weights first."""
    if script not in SCRIPT_SAMPLES:
        raise ValueError(f"unknown script {script!r}; known: {sorted(SCRIPT_SAMPLES)}")
    covering = set(fonts_covering(SCRIPT_SAMPLES[script]))
    faces = [face for face in installed_faces() if face.path in covering]
    preferred = [
        face
        for family in PREFERRED_FAMILIES[script]
        for face in sorted(faces, key=_regular_first)
        if family in face.families
    ]
    others = sorted((face for face in faces if face.index == 0), key=_regular_first)
    return list(dict.fromkeys([*preferred, *others]))


def _regular_first(face: FontFace) -> tuple[bool, str, int]:
    # Within a family, the upright regular weight before bold, light or oblique variants.
    stem = face.path.stem.lower()
    styled = any(style in stem for style in ("bold", "light", "oblique", "italic", "extra", "thin"))
    return styled, face.path.name, face.index


def find_face(script: Script) -> FontFace:
    """One face for the script, chosen the same way on every machine with the same fonts."""
    faces = faces_for_script(script)
    if not faces:
        raise FontNotFoundError(
            f"no installed font covers {script} text ({SCRIPT_SAMPLES[script]!r}); "
            f"install one, e.g. `apt-get install {SCRIPT_PACKAGES[script]}`"
        )
    return faces[0]


def find_font(script: Script) -> Path:
    """The file of :func:`find_face`; draw it with ``find_face(script).index`` when it is a collection."""
    return find_face(script).path
