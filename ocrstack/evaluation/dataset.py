"""The real benchmark sets: ``gt.json`` and its ICDAR 2015 ground-truth files as typed records.

The images live outside the repository (``<repo>/../shared/testdata/real``, and the Korean development
set ``<repo>/../shared/testdata/real_ko``) and are read in place. Both sets share the ``gt.json`` format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

SampleKind = Literal["crop", "page", "icdar"]
SAMPLE_KINDS: tuple[SampleKind, ...] = ("crop", "page", "icdar")

DONT_CARE = "###"
DATA_ENV_VAR = "OCRSTACK_REAL_DATA"
# ocrstack/evaluation/dataset.py -> repository root -> its sibling `shared/`.
_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = _REPO_ROOT.parent / "shared" / "testdata" / "real"
KOREAN_DATA_ENV_VAR = "OCRSTACK_REAL_KO_DATA"
DEFAULT_KOREAN_DATA_ROOT = _REPO_ROOT.parent / "shared" / "testdata" / "real_ko"


@dataclass(frozen=True)
class TextBox:
    """A quadrilateral (4, 2) in image pixels with its transcription."""

    points: np.ndarray
    text: str

    @property
    def dont_care(self) -> bool:
        return self.text == DONT_CARE


@dataclass(frozen=True)
class Sample:
    """One benchmark image. ``lines`` is set for crops and pages, ``boxes`` for ICDAR scenes."""

    path: Path
    kind: SampleKind
    lang: str
    lines: tuple[str, ...] = ()
    boxes: tuple[TextBox, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.path.name


def _root(override: str | os.PathLike[str] | None, env_var: str, default: Path) -> Path:
    if override is not None:
        return Path(override)
    from_env = os.environ.get(env_var)
    return Path(from_env) if from_env else default


def data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Where the real set lives: the argument, else ``$OCRSTACK_REAL_DATA``, else beside the repo."""
    return _root(override, DATA_ENV_VAR, DEFAULT_DATA_ROOT)


def korean_data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Where the real Korean set lives: the argument, else ``$OCRSTACK_REAL_KO_DATA``, else beside the
    repo."""
    return _root(override, KOREAN_DATA_ENV_VAR, DEFAULT_KOREAN_DATA_ROOT)


def parse_icdar_line(line: str) -> TextBox:
    """``x1,y1,...,x4,y4,text``; the text is everything after the eighth comma (it may hold commas)."""
    fields = line.split(",", 8)
    if len(fields) != 9:
        raise ValueError(f"expected 8 coordinates and a text, got {line!r}")
    points = np.array([float(v) for v in fields[:8]], dtype=np.float32).reshape(4, 2)
    return TextBox(points=points, text=fields[8])


def read_icdar_gt(path: Path) -> list[TextBox]:
    # utf-8-sig drops the byte-order mark the ICDAR files start with.
    text = path.read_text(encoding="utf-8-sig")
    return [parse_icdar_line(line.rstrip("\r")) for line in text.split("\n") if line.strip()]


def _sample_from_entry(entry: dict[str, object], root: Path) -> Sample:
    kind = entry["kind"]
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown sample kind {kind!r} for {entry.get('path')!r}")
    gt_file = entry.get("gt")
    boxes = tuple(read_icdar_gt(root / str(gt_file))) if gt_file else ()
    lines = entry.get("lines") or []
    assert isinstance(lines, list)
    return Sample(
        path=root / str(entry["path"]),
        kind=kind,
        lang=str(entry.get("lang", "")),
        lines=tuple(str(line) for line in lines),
        boxes=boxes,
    )


def load_samples(root: Path | None = None) -> list[Sample]:
    """All samples listed in ``<root>/gt.json``, in file order."""
    root = data_root() if root is None else root
    entries = json.loads((root / "gt.json").read_text(encoding="utf-8"))
    return [_sample_from_entry(entry, root) for entry in entries]


def by_kind(samples: Sequence[Sample], kind: SampleKind) -> list[Sample]:
    return [s for s in samples if s.kind == kind]


def source_of(sample: Sample, root: Path) -> str:
    """The first folder of the sample's path under ``root`` (its source, e.g. ``egov``); "" at the top."""
    parts = sample.path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ""
