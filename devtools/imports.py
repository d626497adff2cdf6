"""The project's imports, read from source and never run: which modules a module reaches, which third-party
packages an entry point needs, and the layering rules of the README's "Architecture" section.

    python -m devtools.imports      # lists every import that breaks a rule; exit status 1 if any

Function-level imports count as much as module-level ones: a lazy import still runs in production.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The core: configuration, the framework-free stages, the engines, the PyTorch models and their weights,
# evaluation and rendered text. It imports nothing above it.
CORE = (
    "ocrstack.config",
    "ocrstack.charsets",
    "ocrstack.pipeline",
    "ocrstack.engine",
    "ocrstack.models",
    "ocrstack.weights",
    "ocrstack.evaluation",
    "ocrstack.synth",
)
# What every model run by Triton's python backend shares: config parameters, per-request errors, reading
# the model repository. They import no other part of the project.
SERVING_SHARED = ("ocrstack.serving.parameters", "ocrstack.serving.errors", "ocrstack.serving.repository")
APPLICATIONS = ("gateway", "convert", "training", "loadtest", "devtools", "scripts", "deploy")
ALL = ("ocrstack", *APPLICATIONS)

# Each part of the project (the longest matching prefix applies) -> the parts it may import besides itself.
# Nothing imports tests/.
RULES: Mapping[str, tuple[str, ...]] = {
    "ocrstack": CORE,  # the package root and the core modules
    "ocrstack.serving": SERVING_SHARED,  # the serving subpackages' own __init__ and shared modules
    "ocrstack.serving.python_models": (*CORE, *SERVING_SHARED),
    "ocrstack.serving.ort_backend": SERVING_SHARED,
    "ocrstack.serving.launcher": ("ocrstack.serving.repository",),
    "ocrstack.serving.client": (),
    "gateway": (*CORE, "ocrstack.serving.client"),
    "convert": (*CORE, "ocrstack.serving.repository"),
    "training": (*CORE, "convert"),
    "deploy": ("ocrstack.config", "convert.tensorrt"),
    "devtools": ("ocrstack", "gateway"),
    "loadtest": ("ocrstack", "convert", "devtools"),
    "scripts": ALL,
}


def module_file(module: str, root: Path = REPO_ROOT) -> Path | None:
    """``a.b.c`` -> ``<root>/a/b/c.py`` or ``<root>/a/b/c/__init__.py``, found on disk, not imported."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(source: Path, module: str) -> set[str]:
    """Absolute names of what ``source`` (the file of ``module``) imports, at any depth. ``from a import b``
    gives ``a`` and ``a.b``: the second is kept by callers only where it is a module."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def project_imports(module: str, packages: Iterable[str] = ALL, root: Path = REPO_ROOT) -> set[str]:
    """The project modules ``module`` imports directly (``packages`` are the project's top-level names)."""
    source = module_file(module, root)
    if source is None:
        return set()
    tops = set(packages)
    return {
        name
        for name in imported_names(source, module)
        if name.split(".")[0] in tops and module_file(name, root)
    }


def reachable(
    entry_points: Iterable[str], packages: Iterable[str] = ALL, root: Path = REPO_ROOT
) -> tuple[set[str], set[str]]:
    """What importing ``entry_points`` runs: the project modules (of ``packages``, found on disk) and the
    top-level non-stdlib modules outside them."""
    tops = set(packages)
    queue, seen, inside, outside = list(entry_points), set(), set(), set()
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if top not in tops:
            if top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
            continue
        parts = module.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its parents
        source = module_file(module, root)
        if source is not None:
            inside.add(module)
            queue += [
                name
                for name in imported_names(source, module)
                if name.split(".")[0] not in tops or module_file(name, root)
            ]
    return inside, outside


def third_party_imports(
    entry_points: Iterable[str], packages: Iterable[str] = ALL, root: Path = REPO_ROOT
) -> set[str]:
    """Top-level non-stdlib modules that ``entry_points`` reach through the project's ``packages``."""
    return reachable(entry_points, packages, root)[1]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def rule_of(module: str) -> str | None:
    """The most specific part of :data:`RULES` that ``module`` belongs to."""
    matching = [prefix for prefix in RULES if _within(module, prefix)]
    return max(matching, key=len) if matching else None


def allowed(importer: str, imported: str) -> bool:
    part = rule_of(importer)
    if part is None or rule_of(imported) == part:
        return True
    targets = RULES[part]
    # A parent package of an allowed module is allowed too: importing the module runs its __init__.
    return any(_within(imported, target) or _within(target, imported) for target in targets)


@dataclass(frozen=True)
class Violation:
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (allowed for {rule_of(self.importer)}: see RULES)"


def project_modules(root: Path = REPO_ROOT, packages: Iterable[str] = ALL) -> list[str]:
    """Every module of the project's packages, by dotted name (generated run folders left out)."""
    modules = []
    for top in packages:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root).with_suffix("")
            if "results" in relative.parts or "__pycache__" in relative.parts:
                continue
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            modules.append(".".join(parts))
    return modules


def violations(root: Path = REPO_ROOT, packages: Iterable[str] = ALL) -> list[Violation]:
    found = []
    for module in project_modules(root, packages):
        for imported in sorted(project_imports(module, packages, root)):
            if not allowed(module, imported):
                found.append(Violation(module, imported))
    return found


def main() -> int:
    found = violations()
    for violation in found:
        print(violation)
    print(f"{len(found)} import(s) against the layering rules", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
