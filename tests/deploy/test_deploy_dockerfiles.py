"""Each Dockerfile's build context, read as BuildKit reads it, and the images' dependency lists.

Stands in for ``docker build``: the Dockerfiles are parsed by BuildKit's own parser (the ``dockerfile``
package), the context is filtered by the ignore file BuildKit would use (``<Dockerfile>.dockerignore``
beside the Dockerfile, else the root ``.dockerignore``), and every COPY must find its files in it and
bring in nothing that must stay out (virtual environment, build output, secrets, tests).
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import dockerfile
import httpx
import pytest
import tomllib
from deploy_files import REPO_ROOT, page_png
from packaging.requirements import Requirement

from ocrstack.serving.launcher.server import ServerOptions, free_ports

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
GATEWAY_DOCKERFILE = REPO_ROOT / "docker" / "gateway.Dockerfile"
TRITON_DOCKERFILE = REPO_ROOT / "docker" / "triton.Dockerfile"


# --- the build context, as BuildKit filters it ----------------------------------------------------------


def ignore_file(docker_file: Path) -> Path:
    own = docker_file.with_name(docker_file.name + ".dockerignore")
    return own if own.is_file() else REPO_ROOT / ".dockerignore"


def ignore_rules(text: str) -> list[tuple[bool, list[str]]]:
    """(negated, pattern segments) per line, comments and blank lines dropped."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negated, [p for p in pattern.split("/") if p and p != "."]))
    return rules


def _matches(pattern: list[str], parts: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _matches(rest, parts[1:])


def in_context(relative: Path, rules: list[tuple[bool, list[str]]]) -> bool:
    """Whether a file reaches the build context: the last rule matching it or one of its parent folders
    decides (BuildKit's MatchesOrParentMatches)."""
    prefixes = [relative.parts[:i] for i in range(1, len(relative.parts) + 1)]
    excluded = False
    for negated, pattern in rules:
        if any(_matches(pattern, prefix) for prefix in prefixes):
            excluded = not negated
    return not excluded


def files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def copied_files(docker_file: Path, ignore_text: str | None = None) -> dict[str, list[Path]]:
    """Each COPY/ADD source from the context (not from another stage) -> the files it copies."""
    rules = ignore_rules(ignore_file(docker_file).read_text() if ignore_text is None else ignore_text)
    copies = {}
    for command in dockerfile.parse_file(str(docker_file)):
        if command.cmd.upper() not in {"COPY", "ADD"} or any(f.startswith("--from") for f in command.flags):
            continue
        for source in command.value[:-1]:
            files = [
                f.relative_to(REPO_ROOT)
                for f in files_under(REPO_ROOT / source)
                if in_context(f.relative_to(REPO_ROOT), rules)
            ]
            copies[source] = files
    return copies


# Never in an image: environments, build output, caches, checkpoints, secrets, tests and training.
FORBIDDEN = (
    ".venv/**",
    "build/**",
    ".git/**",
    "runs/**",
    "tests/**",
    "training/**",
    "**/__pycache__/**",
    "**/*.pyc",
    "**/*.pt",
    "**/*.env",
    "**/*.pem",
    "**/*.key",
)
# Model files belong to the models image only (the others mount or download nothing of the kind).
MODEL_FILES = ("**/*.onnx", "**/*.plan")


def forbidden(path: Path, patterns: Iterable[str]) -> bool:
    return any(_matches(p.split("/"), path.parts) for p in patterns)


@pytest.mark.parametrize("docker_file", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_file_is_in_the_context_and_nothing_else_gets_in(docker_file: Path) -> None:
    copies = copied_files(docker_file)
    assert copies, f"{docker_file.name} copies nothing from the context"
    patterns = FORBIDDEN if docker_file.name == "models.Dockerfile" else FORBIDDEN + MODEL_FILES
    for source, files in copies.items():
        assert (REPO_ROOT / source).exists(), f"{docker_file.name}: COPY {source}: not in the repository"
        assert files, f"{docker_file.name}: COPY {source}: the ignore file keeps all of it out of the context"
        bad = [str(f) for f in files if forbidden(f, patterns)]
        assert not bad, f"{docker_file.name} copies {bad[:5]}"


def test_context_filter_follows_dockerignore_rules() -> None:
    rules = ignore_rules("*\n!ocrstack\n**/__pycache__\n!ocrstack/config.py\n")
    assert in_context(Path("ocrstack/pipeline/ctc.py"), rules)
    assert not in_context(Path("ocrstack/__pycache__/x.pyc"), rules)
    assert not in_context(Path(".venv/bin/python"), rules)
    assert not in_context(Path("build/checkpoints/a.pt"), rules)
    narrow = ignore_rules("*\n!ocrstack/config.py\n")
    assert in_context(Path("ocrstack/config.py"), narrow)
    assert not in_context(Path("ocrstack/models/factory.py"), narrow)
    assert forbidden(Path("deploy/compose/papago.env"), FORBIDDEN)
    assert forbidden(Path("model_repository/text_detection/1/model.onnx"), MODEL_FILES)


def test_context_check_catches_a_secret_and_a_missing_source(tmp_path: Path) -> None:
    """A Dockerfile that copies a folder holding an env file, with no ignore file, is caught."""
    sloppy = tmp_path / "sloppy.Dockerfile"
    sloppy.write_text("FROM python:3.11-slim\nCOPY deploy /app/deploy\nCOPY no_such_dir /app/x\n")
    copies = copied_files(sloppy, ignore_text="")
    assert any(forbidden(f, FORBIDDEN) for f in copies["deploy"]), "deploy/compose/*.env got in"
    assert copies["no_such_dir"] == [] and not (REPO_ROOT / "no_such_dir").exists()


# --- the gateway image ------------------------------------------------------------------------------


def requirement_names(requirements: Iterable[str]) -> dict[str, Requirement]:
    parsed = [Requirement(r) for r in requirements]
    return {normalize(r.name): r for r in parsed}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


GATEWAY_EXTRA = requirement_names(PYPROJECT["project"]["optional-dependencies"]["gateway"])
MAIN_DEPENDENCIES = requirement_names(PYPROJECT["project"]["dependencies"])


def test_gateway_image_installs_the_gateway_extra_and_keeps_no_list_of_its_own() -> None:
    text = GATEWAY_DOCKERFILE.read_text()
    commands = dockerfile.parse_file(str(GATEWAY_DOCKERFILE))
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd.upper() == "RUN")
    assert "['optional-dependencies']['gateway']" in runs
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in runs
    assert not re.search(r"[A-Za-z0-9]==\d", runs), "pins belong in pyproject.toml's gateway extra"
    assert "COPY pyproject.toml" in text


def test_gateway_image_is_slim_multi_stage_and_non_root() -> None:
    commands = dockerfile.parse_file(str(GATEWAY_DOCKERFILE))
    froms = [c for c in commands if c.cmd.upper() == "FROM"]
    assert len(froms) >= 2, "multi-stage: dependencies are built in a stage of their own"
    args = {c.value[0].split("=")[0]: c.value[0].split("=", 1)[1] for c in commands if c.cmd.upper() == "ARG"}
    assert "slim" in args["PYTHON_IMAGE"]
    users = [c.value[0] for c in commands if c.cmd.upper() == "USER"]
    assert users and not users[-1].startswith(("root", "0")), "the gateway runs as a non-root user"
    (health,) = [c for c in commands if c.cmd.upper() == "HEALTHCHECK"]
    assert "/readyz" in " ".join(health.value)
    (cmd,) = [c for c in commands if c.cmd.upper() == "CMD"]
    assert list(cmd.value) == ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8080"]


def test_gateway_extra_pins_what_the_main_list_pins() -> None:
    for name, requirement in GATEWAY_EXTRA.items():
        assert name in MAIN_DEPENDENCIES, f"{name} is in the gateway extra but not in dependencies"
        main = MAIN_DEPENDENCIES[name]
        assert requirement.specifier == main.specifier, f"{name}: {requirement} vs {main}"
        assert requirement.extras <= main.extras or name == "tritonclient", name
    assert not {"torch", "nvidia-pytriton", "locust", "onnx", "matplotlib"} & set(GATEWAY_EXTRA)


def _module_file(module: str) -> Path | None:
    base = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: Path, module: str) -> set[str]:
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def third_party_closure(entry_points: Iterable[str], packages: set[str]) -> set[str]:
    """Top-level third-party modules reached from ``entry_points`` through the project's ``packages``
    (source read, not run; function-level imports count too)."""
    queue, seen, outside = list(entry_points), set(), set()
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        top = module.split(".")[0]
        if top not in packages:
            if top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
            continue
        parts = module.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]
        source = _module_file(module)
        if source is not None:
            imported = _imports(source, module)
            queue += [m for m in imported if m.split(".")[0] not in packages or _module_file(m)]
    return outside


# What the gateway image runs: the app (uvicorn's factory), its command line, the Papago-compatible server.
GATEWAY_ENTRY_POINTS = ("gateway.app", "gateway.__main__", "gateway.translation.papago_compatible_server")


def distributions_of(module: str) -> list[str]:
    return [normalize(d) for d in metadata.packages_distributions().get(module, [])]


def requires_closure(names: Iterable[str]) -> set[str]:
    """The distributions ``names`` install, with their own requirements (as installed here)."""
    queue, seen = [normalize(n) for n in names], set()
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(normalize(requirement.name))
    return seen


def test_gateway_extra_covers_every_module_the_gateway_imports() -> None:
    modules = third_party_closure(GATEWAY_ENTRY_POINTS, {"gateway", "ocrstack"})
    assert {"fastapi", "cv2", "tritonclient"} <= modules
    assert "torch" not in modules, "the gateway reaches torch, which its image does not install"
    installed = requires_closure(GATEWAY_EXTRA) | {
        # Extras' own requirements (tritonclient[grpc] -> grpcio, uvicorn[standard] -> ...).
        normalize(Requirement(line).name)
        for name, requirement in GATEWAY_EXTRA.items()
        for line in metadata.requires(name) or []
        if Requirement(line).marker is not None
        and any(Requirement(line).marker.evaluate({"extra": e}) for e in requirement.extras)
    }
    missing = {m for m in modules if not set(distributions_of(m)) & installed}
    assert not missing, f"imported by the gateway but not installed by its extra: {missing}"


def test_closure_sees_a_missing_dependency() -> None:
    assert "torch" in third_party_closure(["ocrstack.models"], {"ocrstack"})
    assert "torch" not in requires_closure(GATEWAY_EXTRA)


# --- the Triton image ---------------------------------------------------------------------------------

# Pins that must differ from pyproject.toml's: the Triton image runs Python 3.10, for which these
# releases have no wheels (onnxruntime 1.24+ and shapely 2.2 need 3.11).
PY310_PINS = {"onnxruntime", "pillow", "shapely"}  # the project's pins have no cp310 wheel


def dockerfile_pins(text: str) -> dict[str, str]:
    pins = re.findall(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\[[^\]]*\])?==([0-9][\w.]*)", text)
    return {normalize(name): version for name, version in pins}


def test_triton_image_pins_agree_with_pyproject() -> None:
    """The Triton image keeps its own list (Python 3.10 wheels, read by tests/serving): where a package is
    also a project dependency, the versions agree unless no 3.10 wheel of the project's pin exists."""
    pins = dockerfile_pins(TRITON_DOCKERFILE.read_text())
    shared = {n for n in pins if n in MAIN_DEPENDENCIES}
    assert {"numpy", "opencv-python-headless", "pyclipper", "tritonclient", "onnxruntime"} <= shared
    for name in shared - PY310_PINS:
        assert MAIN_DEPENDENCIES[name].specifier.contains(pins[name]), f"{name}: {pins[name]}"
    assert "torch" not in pins


# --- the gateway image's contents, run ----------------------------------------------------------------


@pytest.mark.slow
def test_gateway_runs_from_its_extra_alone(triton: ServerOptions, tmp_path: Path) -> None:
    """What the image holds, outside the image: a fresh environment with only the gateway extra, the
    files the Dockerfile copies, and the image's command; it must serve a real request from Triton."""
    venv, app = tmp_path / "venv", tmp_path / "app"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(PYPROJECT["project"]["optional-dependencies"]["gateway"]) + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(requirements)], check=True, timeout=1200)
    for files in copied_files(GATEWAY_DOCKERFILE).values():
        for relative in files:
            if relative.suffix != ".toml":
                (app / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO_ROOT / relative, app / relative)
    (port,) = free_ports(1)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(app),
        "OCRSTACK_TRITON_URL": f"127.0.0.1:{triton.grpc_port}",
        "OCRSTACK_TRANSLATOR": "none",
        "OCRSTACK_DEFAULT_SOURCE_LANG": "en",
    }
    command = [str(venv / "bin" / "python"), "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)]
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(command, cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        answer = httpx.post(
            f"{base}/translate_image",
            files={"file": ("page.png", page_png("Hello image"), "image/png")},
            data={"render": "true"},
            timeout=120,
        )
        assert answer.status_code == 200, (tmp_path / "gateway.log").read_text()[-3000:]
        body = answer.json()
        assert [line["text"] for line in body["lines"]] and body["rendered_image"]
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
