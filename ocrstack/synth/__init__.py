"""Rendered text: the images tests generate for themselves, and later the synthetic training data."""

from ocrstack.synth.fonts import (
    FontFace,
    FontNotFoundError,
    covers,
    find_face,
    find_font,
    fonts_covering,
    installed_fonts,
)
from ocrstack.synth.render import LineSpec, render_page, render_text_line, text_mask

__all__ = [
    "FontFace",
    "FontNotFoundError",
    "LineSpec",
    "covers",
    "find_face",
    "find_font",
    "fonts_covering",
    "installed_fonts",
    "render_page",
    "render_text_line",
    "text_mask",
]
