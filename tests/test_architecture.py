"""The layering of the README's "Architecture" section, read from the source (devtools.imports)."""

from __future__ import annotations

from pathlib import Path

from devtools.imports import (
    RULES,
    allowed,
    project_modules,
    third_party_imports,
    violations,
)


def test_every_import_follows_the_layering() -> None:
    assert [str(v) for v in violations()] == []


def test_every_part_of_the_project_has_a_rule() -> None:
    unruled = [m for m in project_modules() if not any(m == p or m.startswith(p + ".") for p in RULES)]
    assert unruled == []


def test_the_core_and_the_triton_models_stay_below_the_rest() -> None:
    assert not allowed("ocrstack.pipeline.stages", "ocrstack.serving.client")
    assert not allowed("ocrstack.config", "gateway.app")
    assert not allowed("ocrstack.serving.python_models.crop_recognize", "ocrstack.serving.launcher.server")
    assert allowed("ocrstack.serving.python_models.crop_recognize", "ocrstack.serving.errors")
    assert not allowed("gateway.app", "convert.export")
    assert allowed("gateway.triton", "ocrstack.serving.client")


def test_a_module_that_imports_upwards_is_found(tmp_path: Path) -> None:
    for folder in ("ocrstack/pipeline", "gateway"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "ocrstack" / "__init__.py").write_text("")
    (tmp_path / "gateway" / "app.py").write_text("X = 1\n")
    (tmp_path / "ocrstack" / "pipeline" / "stages.py").write_text("def f():\n    from gateway.app import X\n")
    found = violations(tmp_path, ("ocrstack", "gateway"))
    assert [(v.importer, v.imported) for v in found] == [("ocrstack.pipeline.stages", "gateway.app")]


def test_the_triton_models_and_the_gateway_reach_neither_torch_nor_onnxruntime() -> None:
    models = [
        f"ocrstack.serving.python_models.{name}" for name in ("preprocess", "detect_boxes", "crop_recognize")
    ]
    models.append("ocrstack.serving.python_models.recognize_crops")
    for entry_points in (models, ["gateway.app", "gateway.__main__"]):
        reached = third_party_imports(entry_points)
        assert not {"torch", "onnxruntime"} & reached, (entry_points, reached)
    assert "torch" in third_party_imports(["ocrstack.models"])
