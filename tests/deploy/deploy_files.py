"""The deployment files as data: Compose's YAML tags, interpolation and override merge, Kubernetes
lookups, the prepare step loaded from its path, and a rendered test page. Shared by tests/deploy."""

from __future__ import annotations

import importlib.util
import io
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from PIL import Image, ImageDraw, ImageFont

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_CPU_FILE = REPO_ROOT / "docker-compose.cpu.yml"
K8S_DIR = REPO_ROOT / "deploy" / "k8s"


# --- Compose files: YAML with Compose's own tags, `${VAR:-default}` interpolation, override merging ----


class Reset:
    """Compose's ``!reset`` tag: the attribute is removed from what the earlier files said."""


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


def load_compose_text(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=ComposeLoader)  # SafeLoader plus one tag


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str] | None = None) -> Any:
    """``${NAME:-default}`` and friends resolved as Compose does, from ``env`` (default: nothing set)."""
    env = env or {}
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    return value


def merge_compose(base: Any, override: Any) -> Any:
    """Compose's merge of an override file, for the shapes used here: mappings merge key by key,
    ``!reset`` removes, scalars and sequences of the override replace (Compose appends some sequences,
    such as ports; the override files here change none)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, Reset):
                merged.pop(key, None)
            else:
                merged[key] = merge_compose(base.get(key), value) if key in base else value
        return merged
    return override


def drop_extensions(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if not k.startswith("x-")}


def find_resource(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


@dataclass(frozen=True)
class LiveStack:
    triton_version: str
    triton_metrics: str
    gateway_metrics: str


def page_png(text: str = "Deploy check 42") -> bytes:
    image = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(image).text((20, 40), text, fill="black", font=ImageFont.load_default(size=36))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def load_prepare_repository() -> ModuleType:
    """deploy/prepare_repository.py, a script (it runs in images without the project installed)."""
    path = REPO_ROOT / "deploy" / "prepare_repository.py"
    spec = importlib.util.spec_from_file_location("prepare_repository", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
