"""Values of a model config's ``parameters`` block, as Triton hands the config to a python-backend model
(parsed JSON), converted and checked; shared by the python models and the embedded onnxruntime backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T", bool, int, float, str)


def parse_bool(text: str) -> bool:
    """Booleans as Triton configs write them: 1/0, true/false, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def string_parameter(parameters: Mapping[str, Any], key: str) -> str | None:
    """The ``string_value`` of ``parameters { key: ... }``, or None when the key is absent."""
    entry = parameters.get(key)
    if entry is None:
        return None
    if isinstance(entry, Mapping):
        value = entry.get("string_value")
        return None if value is None else str(value)
    return str(entry)


def parameter(parameters: Mapping[str, Any], key: str, default: T) -> T:
    """A config parameter converted to the type of ``default``, which is returned when the key is absent."""
    raw = string_parameter(parameters, key)
    if raw is None:
        return default
    try:
        if isinstance(default, bool):
            return parse_bool(raw)
        if isinstance(default, int):
            return int(raw.strip())
        if isinstance(default, float):
            return float(raw.strip())
        return raw
    except ValueError as exc:
        kind = type(default).__name__
        raise ValueError(f"parameter '{key}' must be {kind}, got {raw!r}") from exc


def optional_bool_parameter(parameters: Mapping[str, Any], key: str) -> bool | None:
    """A boolean switch that, when absent, leaves ONNX Runtime's own default in place."""
    raw = string_parameter(parameters, key)
    if raw is None:
        return None
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise ValueError(f"parameter '{key}' must be a boolean, got {raw!r}") from exc
