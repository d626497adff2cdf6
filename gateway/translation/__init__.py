"""Translation of recognised text: the ``Translator`` interface, Papago NMT, and the factory the gateway
calls at startup."""

from __future__ import annotations

from gateway.translation.base import (
    PAPAGO_LANGUAGES,
    NoTranslator,
    Translation,
    Translator,
    UnsupportedLanguageError,
    papago_language,
    resolve_pair,
)
from gateway.translation.papago import DEFAULT_ENDPOINT, PapagoSettings, PapagoTranslator

__all__ = [
    "DEFAULT_ENDPOINT",
    "PAPAGO_LANGUAGES",
    "TRANSLATOR_KINDS",
    "NoTranslator",
    "PapagoSettings",
    "PapagoTranslator",
    "Translation",
    "Translator",
    "UnsupportedLanguageError",
    "make_translator",
    "papago_language",
    "resolve_pair",
]

TRANSLATOR_KINDS = ("auto", "papago", "none")


def make_translator(kind: str, papago: PapagoSettings | None) -> Translator:
    """The translator for ``kind``: "papago" (credentials required), "none", or "auto" (Papago when
    credentials are set, else none). A misconfiguration raises ``ValueError``: it is a startup error, and
    failing there beats a gateway that silently never translates."""
    has_credentials = papago is not None and papago.has_credentials
    if kind == "none":
        return NoTranslator()
    if kind == "papago":
        if papago is None or not has_credentials:
            raise ValueError("translator 'papago' needs a Papago API key id and key")
        return PapagoTranslator(papago)
    if kind == "auto":
        return PapagoTranslator(papago) if papago is not None and has_credentials else NoTranslator()
    raise ValueError(f"unknown translator {kind!r}; expected one of {', '.join(TRANSLATOR_KINDS)}")
