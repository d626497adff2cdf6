"""The translator interface the gateway calls, language codes as Papago spells them, and the translator used
when no translation service is configured."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

# Papago's own codes. Chinese needs its script spelled out (zh-CN simplified, zh-TW traditional).
PAPAGO_LANGUAGES: frozenset[str] = frozenset(
    {"ko", "en", "ja", "zh-CN", "zh-TW", "vi", "th", "id", "fr", "es", "ru", "de", "it"}
)

# Codes callers commonly send that mean one of Papago's; OCR language tags say "zh" for simplified Chinese.
_ALIASES: dict[str, str] = {
    "zh": "zh-CN",
    "zh-cn": "zh-CN",
    "zh_cn": "zh-CN",
    "zh-hans": "zh-CN",
    "zh-tw": "zh-TW",
    "zh_tw": "zh-TW",
    "zh-hant": "zh-TW",
}

# The pairs NCP documents: Korean and English pair with every language, and the CJK languages with each
# other. Papago stays the authority: a pair it lacks comes back as a per-item N2MT06 error.
_HUB_LANGUAGES = frozenset({"ko", "en"})
_CJK_LANGUAGES = frozenset({"ja", "zh-CN", "zh-TW"})


@dataclass(frozen=True, slots=True)
class Translation:
    """One input text's result: ``text`` when translated, ``error`` when not; both ``None`` when no
    translator is configured."""

    text: str | None
    error: str | None


class UnsupportedLanguageError(ValueError):
    """A language code or pair that Papago does not translate; the message is meant for API clients."""


def papago_language(code: str) -> str | None:
    """``code`` as Papago spells it (``zh`` -> ``zh-CN``, ``EN`` -> ``en``), or ``None`` when unsupported."""
    cleaned = code.strip()
    alias = _ALIASES.get(cleaned.lower())
    if alias is not None:
        return alias
    for known in PAPAGO_LANGUAGES:
        if known.lower() == cleaned.lower():
            return known
    return None


def is_supported_pair(source: str, target: str) -> bool:
    """Whether Papago translates ``source`` -> ``target`` (both already in Papago's spelling, different)."""
    if source == target or source not in PAPAGO_LANGUAGES or target not in PAPAGO_LANGUAGES:
        return False
    return bool({source, target} & _HUB_LANGUAGES) or {source, target} <= _CJK_LANGUAGES


def resolve_pair(source: str, target: str) -> tuple[str, str]:
    """Both codes in Papago's spelling, or ``UnsupportedLanguageError`` saying which part is wrong.

    The same language on both sides is accepted: translating is then the identity and needs no call.
    """
    resolved_source, resolved_target = papago_language(source), papago_language(target)
    supported = ", ".join(sorted(PAPAGO_LANGUAGES | {"zh"}))
    if resolved_source is None:
        raise UnsupportedLanguageError(f"unsupported source language {source!r}; supported: {supported}")
    if resolved_target is None:
        raise UnsupportedLanguageError(f"unsupported target language {target!r}; supported: {supported}")
    if resolved_source != resolved_target and not is_supported_pair(resolved_source, resolved_target):
        raise UnsupportedLanguageError(
            f"translation {resolved_source} -> {resolved_target} is not supported; Korean and English pair "
            "with every language, Japanese and Chinese with each other"
        )
    return resolved_source, resolved_target


def failed(count: int, error: str) -> list[Translation]:
    """The same error for each of ``count`` texts."""
    return [Translation(None, error) for _ in range(count)]


class Translator(ABC):
    """Translates a batch of texts. One result per text, in order; a failure upstream is a per-item error,
    never an exception, so one bad line cannot fail a whole image."""

    name: str

    @abstractmethod
    async def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]: ...

    async def aclose(self) -> None:  # noqa: B027 - an optional hook: most translators hold nothing
        """Releases connections; the default holds none."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class NoTranslator(Translator):
    """The gateway's translator when no credentials are set: nothing is translated.

    Language pairs are still checked, so that a request rejected in production is rejected here too.
    """

    name = "none"

    async def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]:
        try:
            resolve_pair(source, target)
        except UnsupportedLanguageError as exc:
            return failed(len(texts), str(exc))
        return [Translation(None, None) for _ in texts]

    def __repr__(self) -> str:
        return "NoTranslator()"
