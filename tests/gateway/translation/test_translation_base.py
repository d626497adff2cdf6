"""Language codes, the no-op translator, settings records and the translator factory."""

from __future__ import annotations

import asyncio

import pytest

from gateway.translation import (
    NoTranslator,
    PapagoSettings,
    PapagoTranslator,
    Translation,
    UnsupportedLanguageError,
    make_translator,
    papago_language,
    resolve_pair,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ko", "ko"),
        ("EN", "en"),
        (" zh ", "zh-CN"),
        ("zh-cn", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-TW", "zh-TW"),
        ("zh-hant", "zh-TW"),
        ("ja", "ja"),
        ("xx", None),
        ("", None),
    ],
)
def test_papago_language(code: str, expected: str | None) -> None:
    assert papago_language(code) == expected


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("ko", "en", ("ko", "en")),
        ("en", "zh", ("en", "zh-CN")),
        ("zh", "ko", ("zh-CN", "ko")),
        ("ja", "zh-TW", ("ja", "zh-TW")),
        ("vi", "ko", ("vi", "ko")),
        ("ko", "ko", ("ko", "ko")),  # identity, accepted
    ],
)
def test_resolve_pair_accepts(source: str, target: str, expected: tuple[str, str]) -> None:
    assert resolve_pair(source, target) == expected


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("xx", "en", "unsupported source language 'xx'"),
        ("ko", "klingon", "unsupported target language 'klingon'"),
        ("vi", "th", "vi -> th is not supported"),
    ],
)
def test_resolve_pair_rejects_with_a_clear_message(source: str, target: str, message: str) -> None:
    with pytest.raises(UnsupportedLanguageError, match=message):
        resolve_pair(source, target)


def test_no_translator_translates_nothing_but_checks_the_pair() -> None:
    translator = NoTranslator()
    assert translator.name == "none"
    assert asyncio.run(translator.translate(["안녕", "hi"], "ko", "en")) == [Translation(None, None)] * 2
    errors = asyncio.run(translator.translate(["안녕", "hi"], "ko", "xx"))
    assert [e.text for e in errors] == [None, None]
    assert all(e.error and "unsupported target language" in e.error for e in errors)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        PapagoSettings("id", "key", max_attempts=0)
    with pytest.raises(ValueError, match="endpoint"):
        PapagoSettings("id", "key", endpoint="ftp://example.invalid/x")
    with pytest.raises(ValueError, match="timeout_s"):
        PapagoSettings("id", "key", timeout_s=0)


def test_settings_repr_hides_credentials() -> None:
    settings = PapagoSettings("visible-id-1234", "secret-key-5678")
    shown = repr(settings) + str(settings)
    assert "visible-id-1234" not in shown and "secret-key-5678" not in shown
    assert "credentials=<set>" in shown
    assert "credentials=<missing>" in repr(PapagoSettings("", ""))


def test_make_translator() -> None:
    with_keys = PapagoSettings("id", "key")
    without_keys = PapagoSettings("", "")
    assert isinstance(make_translator("none", with_keys), NoTranslator)
    assert isinstance(make_translator("auto", None), NoTranslator)
    assert isinstance(make_translator("auto", without_keys), NoTranslator)
    with pytest.raises(ValueError, match="needs a Papago API key"):
        make_translator("papago", without_keys)
    with pytest.raises(ValueError, match="unknown translator"):
        make_translator("deepl", with_keys)

    async def build_and_close(kind: str) -> str:
        async with make_translator(kind, with_keys) as translator:
            assert isinstance(translator, PapagoTranslator)
            return translator.name

    assert asyncio.run(build_and_close("auto")) == "papago"
    assert asyncio.run(build_and_close("papago")) == "papago"
