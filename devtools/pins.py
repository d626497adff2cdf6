"""Requirements read from ``pyproject.toml`` for the Makefile, so that no version is written twice.

    python -m devtools.pins torch                    # the train extra's torch pin
    python -m devtools.pins without-dependencies     # what pip installs with --no-deps (see pyproject.toml)

The command line needs the standard library only: the Makefile runs it in a virtual environment that has
nothing installed yet. :func:`requirements_for` (for the tests) needs ``packaging``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.requirements import Requirement

import tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requirement_name(requirement: str) -> str:
    """The distribution name a requirement line starts with, as written."""
    return re.split(r"[\s\[=<>!~;]", requirement, maxsplit=1)[0]


def normalize(name: str) -> str:
    """A distribution name in its normalised form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_for(requirements: Iterable[str], python: str) -> dict[str, Requirement]:
    """The requirements that apply on ``python`` (their markers evaluated), by normalised name."""
    from packaging.requirements import Requirement

    environment = {"python_version": python, "extra": ""}
    chosen = [Requirement(r) for r in requirements]
    return {normalize(r.name): r for r in chosen if r.marker is None or r.marker.evaluate(environment)}


def project_requirement(name: str, pyproject: Path = PYPROJECT) -> str:
    """The one requirement line naming ``name`` in the base list or an extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lists = [project["dependencies"], *project["optional-dependencies"].values()]
    found = {
        line for lines in lists for line in lines if re.split(r"[\s\[=<>!~;]", line, maxsplit=1)[0] == name
    }
    if len(found) != 1:
        raise SystemExit(f"{pyproject}: {len(found)} requirements name {name!r}: {sorted(found)}")
    return found.pop()


def without_dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The pins installed with ``pip install --no-deps`` (``[tool.ocrstack] without-dependencies``)."""
    return list(tomllib.loads(pyproject.read_text())["tool"]["ocrstack"]["without-dependencies"])


def main(argv: list[str]) -> int:
    if argv == ["without-dependencies"]:
        print(" ".join(without_dependencies()))
    elif len(argv) == 1:
        print(project_requirement(argv[0]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
