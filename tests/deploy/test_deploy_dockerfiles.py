"""Each Dockerfile's build context, read as BuildKit reads it, and the images' dependency lists.

Stands in for ``docker build``: the Dockerfiles are parsed by BuildKit's own parser (the ``dockerfile``
package), the context is filtered by the ignore file BuildKit would use (``<Dockerfile>.dockerignore``
beside the Dockerfile, else the root ``.dockerignore``), and every COPY must find its files in it and
bring in nothing that must stay out (virtual environment, build output, secrets, tests).
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import dockerfile
import httpx
import pytest
import tomllib
from deploy_files import REPO_ROOT, page_png
from packaging.requirements import Requirement

from devtools.imports import third_party_imports
from devtools.pins import normalize, requirements_for
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


EXTRAS = PYPROJECT["project"]["optional-dependencies"]
BASE_DEPENDENCIES = PYPROJECT["project"]["dependencies"]
GATEWAY_EXTRA = requirement_names(EXTRAS["gateway"])
# Heavy packages no runtime image may pull in.
TRAINING_AND_BENCH_ONLY = {"torch", "nvidia-pytriton", "locust", "onnx", "onnxruntime", "matplotlib"}


# What the gateway image installs: the base list and the gateway extra, for the image's Python (3.11).
GATEWAY_INSTALLS = {**requirements_for(BASE_DEPENDENCIES, "3.11"), **GATEWAY_EXTRA}


def test_gateway_image_installs_the_gateway_extra_and_keeps_no_list_of_its_own() -> None:
    text = GATEWAY_DOCKERFILE.read_text()
    commands = dockerfile.parse_file(str(GATEWAY_DOCKERFILE))
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd.upper() == "RUN")
    assert "pip install --no-cache-dir '/tmp/ocrstack[gateway]'" in runs
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


def test_each_package_is_pinned_once_and_runtime_lists_hold_no_training_tools() -> None:
    """A version lives in one list: an extra that needs another's packages names that extra
    (``ocrstack[serve]``), and a package named twice carries its version once (or per Python by marker)."""
    pinned_in: Counter[str] = Counter()
    for requirements in [BASE_DEPENDENCIES, *EXTRAS.values()]:
        parsed = [Requirement(line) for line in requirements]
        assert all(not r.specifier for r in parsed if r.name == "ocrstack"), (
            "an extra names another, unpinned"
        )
        by_marker = {(normalize(r.name), str(r.marker)) for r in parsed}
        assert len(by_marker) == len(parsed), f"a package named twice for one Python: {requirements}"
        pinned_in.update({normalize(r.name) for r in parsed if r.specifier})
    assert [name for name, lists in pinned_in.items() if lists > 1] == []
    assert not TRAINING_AND_BENCH_ONLY & set(GATEWAY_INSTALLS)
    assert not TRAINING_AND_BENCH_ONLY & set(requirements_for(BASE_DEPENDENCIES, "3.10"))


# What the gateway image runs: the app (uvicorn's factory), its command line, the Papago-compatible server.
GATEWAY_ENTRY_POINTS = ("gateway.app", "gateway.__main__", "devtools.papago_server")


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
    modules = third_party_imports(GATEWAY_ENTRY_POINTS, ("gateway", "ocrstack", "devtools"))
    assert {"fastapi", "cv2", "tritonclient"} <= modules
    assert "torch" not in modules, "the gateway reaches torch, which its image does not install"
    installed = requires_closure(GATEWAY_INSTALLS) | {
        # Extras' own requirements (tritonclient[grpc] -> grpcio, uvicorn[standard] -> ...).
        normalize(needed.name)
        for name, requirement in GATEWAY_INSTALLS.items()
        for needed in map(Requirement, metadata.requires(name) or [])
        if needed.marker is not None and any(needed.marker.evaluate({"extra": e}) for e in requirement.extras)
    }
    missing = {m for m in modules if not set(distributions_of(m)) & installed}
    assert not missing, f"imported by the gateway but not installed by its extra: {missing}"


def test_closure_sees_a_missing_dependency() -> None:
    assert "torch" in third_party_imports(["ocrstack.models"], ("ocrstack",))
    assert "torch" not in requires_closure(GATEWAY_INSTALLS)


# --- the Triton image ---------------------------------------------------------------------------------


def test_triton_image_installs_the_base_list_and_keeps_no_list_of_its_own() -> None:
    """The Triton image installs the project with its base list, whose markers pick the Python 3.10
    releases the official container needs (tests/serving checks that list against what the python
    models import)."""
    commands = dockerfile.parse_file(str(TRITON_DOCKERFILE))
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd.upper() == "RUN")
    assert "pip install --no-cache-dir --ignore-requires-python /tmp/ocrstack " in runs
    assert not re.search(r"[A-Za-z0-9]==\d", runs), "pins belong in pyproject.toml's base list"
    on_310, on_311 = requirements_for(BASE_DEPENDENCIES, "3.10"), requirements_for(BASE_DEPENDENCIES, "3.11")
    assert set(on_310) == set(on_311), "every base package has a pin for both Pythons"
    assert {"numpy", "opencv-python-headless", "pyclipper", "shapely", "tritonclient"} <= set(on_310)
    assert str(on_310["numpy"].specifier).startswith("==1."), "the 24.10 python backend stub needs numpy 1.x"


# --- the gateway image's contents, run ----------------------------------------------------------------


@pytest.mark.slow
def test_gateway_runs_from_its_extra_alone(triton: ServerOptions, tmp_path: Path) -> None:
    """What the image holds, outside the image: a fresh environment with the project installed with its
    gateway extra alone, the gateway folder the Dockerfile copies, and the image's command; it must serve
    a real request from Triton."""
    venv, app = tmp_path / "venv", tmp_path / "app"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    source = tmp_path / "source"  # what the dependencies stage copies to /tmp/ocrstack
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / name, source / name)
    for relative in copied_files(GATEWAY_DOCKERFILE)["ocrstack"]:
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, source / relative)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, f"{source}[gateway]"], check=True, timeout=1200)
    for relative in copied_files(GATEWAY_DOCKERFILE)["gateway"]:  # the final stage's /app
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
