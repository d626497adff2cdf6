"""The model repository as the Triton container serves it, for one choice of engine for the ONNX models.

    python3 deploy/prepare_repository.py prepare --engine ENGINE --source model_repository --out /models
    python3 deploy/prepare_repository.py build-engines --source model_repository --out build/engines

``prepare`` copies the repository and rewrites the configs of the ONNX models (``backend: "onnxruntime"``)
for the chosen engine; python models and ensembles are copied unchanged.

- ``cpu``: ONNX Runtime on the CPU, the committed configs as they are.
- ``onnxruntime``: ONNX Runtime's CUDA execution provider; starts in seconds, nothing GPU-specific to keep.
- ``ort-tensorrt``: ONNX Runtime's TensorRT execution provider in FP16, shapes bounded by the config
  records' profiles; the first load builds engines (minutes) into ``--cache``, later loads read them.
  The cache is rebuilt when the GPU model or TensorRT changes.
- ``tensorrt``: Triton's TensorRT backend serving plans from ``build-engines``; starts in seconds, but
  the plans are one set per GPU model and TensorRT version.

Every GPU engine also gives the recognizers (not their sequential twins) the dynamic batcher that the
committed configs, written for CPUs, leave out.

``build-engines`` runs ``trtexec`` (inside ``nvcr.io/nvidia/tensorrt`` of the Triton release's month, so
that the plans match the TensorRT in the Triton image) for every ONNX model with a config record: the
optimisation profile comes from the record (``convert.tensorrt.shape_profile``) and the largest batch from
the model's ``max_batch_size``. It writes ``<out>/<model>/model.plan`` and ``<out>/engines.json`` (each
plan's ONNX digest and profile), which ``prepare --engine tensorrt`` checks, so that a plan of older
weights or another profile is refused, not served.

Standard library only (plus ``ocrstack.config`` and ``convert.tensorrt``, which are too), so it runs on the
Python of any of the images: the Triton image (3.10), the TensorRT image and the models image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ENGINES = ("cpu", "onnxruntime", "ort-tensorrt", "tensorrt")
ONNX_BACKEND = 'backend: "onnxruntime"'
# Model parameters that only the ONNX Runtime backends read: dropped when a model moves to TensorRT.
ORT_PARAMETERS = (
    "intra_op_thread_count",
    "inter_op_thread_count",
    "allow_spinning",
    "max_elements_per_run",
    "execution_mode",
    "enable_mem_arena",
    "enable_mem_pattern",
)
ENGINES_MANIFEST = "engines.json"
# Where trtexec lives in NVIDIA's TensorRT containers when it is not on PATH.
TRTEXEC_DIRS = ("/usr/src/tensorrt/bin", "/workspace/tensorrt/bin", "/opt/tensorrt/bin")


class PrepareError(RuntimeError):
    """The repository cannot be prepared as asked (missing plan, stale plan, unknown engine)."""


# --- pbtxt text edits ---------------------------------------------------------------------------------
# The configs are edited as text, not through protobuf: the images this runs in need not have the
# protobuf package, and the committed comments stay in the served files.


def _skip_string(text: str, start: int) -> int:
    """Index just past the string literal opening at ``start``."""
    quote, i = text[start], start + 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _past_literal(text: str, i: int) -> int | None:
    """Index past the string literal or ``#`` comment starting at ``i``; None when none starts there."""
    if text[i] in "\"'":
        return _skip_string(text, i)
    if text[i] == "#":
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    return None


def _matching_close(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (strings and ``#`` comments skipped)."""
    pairs = {"[": "]", "{": "}"}
    stack = [pairs[text[open_at]]]
    i = open_at + 1
    while i < len(text):
        c = text[i]
        skipped = _past_literal(text, i)
        if skipped is not None:
            i = skipped
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in "]}":
            if c != stack.pop():
                raise PrepareError(f"unbalanced brackets near offset {i}")
            if not stack:
                return i
        i += 1
    raise PrepareError("unbalanced brackets: the config ends inside a block")


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _top_level_fields(text: str, name: str) -> list[tuple[int, int]]:
    """(start, end) spans of every top-level ``name [ ... ]`` / ``name { ... }`` / ``name: value`` field."""
    spans, depth, i = [], 0, 0
    while i < len(text):
        c = text[i]
        skipped = _past_literal(text, i)
        if skipped is not None:
            i = skipped
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif depth == 0 and text.startswith(name, i) and (i == 0 or not _is_name_char(text[i - 1])):
            after = i + len(name)
            rest = text[after:].lstrip(" \t:")
            if rest[:1] in ("[", "{"):
                open_at = len(text) - len(rest)
                end = _matching_close(text, open_at) + 1
                spans.append((i, end))
                i = end
                continue
        i += 1
    return spans


def replace_field(text: str, name: str, replacement: str) -> str:
    """The config with its top-level ``name`` block(s) replaced by ``replacement`` (appended when absent)."""
    spans = _top_level_fields(text, name)
    if not spans:
        return text.rstrip("\n") + "\n" + replacement + "\n"
    for start, end in reversed(spans[1:]):
        text = text[:start] + text[end:]
    start, end = spans[0]
    return text[:start] + replacement + text[end:]


def remove_parameters(text: str, keys: Iterable[str]) -> str:
    """The config without its top-level ``parameters { key: "K" ... }`` blocks for ``keys``."""
    wanted = {f'key: "{k}"' for k in keys}
    for start, end in reversed(_top_level_fields(text, "parameters")):
        block = text[start:end]
        if any(w in block for w in wanted):
            line_end = text.find("\n", end)
            text = text[:start] + text[(end if line_end < 0 else line_end + 1) :]
    return text


def max_batch_size(text: str) -> int:
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("max_batch_size"):
            return int(stripped.split(":", 1)[1])
    return 0


# --- per-engine config rewrites -------------------------------------------------------------------------


def gpu_instances(count: int) -> str:
    return f"instance_group [ {{ count: {count} kind: KIND_GPU }} ]"


GPU_BATCHING = (
    "# Added for the GPU engines: the chunks of concurrent requests are merged into one run, which costs\n"
    "# little more than one chunk on a GPU (the committed config, for CPUs, runs each request on its own).\n"
    "dynamic_batching { max_queue_delay_microseconds: 3000 }"
)


def with_gpu_batching(name: str, text: str) -> str:
    """A batching model without a dynamic batcher (the recognizers) gets one, except a sequential twin,
    which runs one request per execution on every engine."""
    from ocrstack.config import record_name

    if max_batch_size(text) <= 0 or _top_level_fields(text, "dynamic_batching") or record_name(name) != name:
        return text
    return text.rstrip("\n") + "\n" + GPU_BATCHING + "\n"


def tensorrt_accelerator(profile: dict[str, str], cache_dir: str) -> str:
    """ONNX Runtime's TensorRT execution provider, FP16, with the engine cache and the record's profile."""
    parameters = {
        "precision_mode": "FP16",
        "max_workspace_size_bytes": str(1 << 30),
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": cache_dir,
        "trt_profile_min_shapes": profile["min"],
        "trt_profile_opt_shapes": profile["opt"],
        "trt_profile_max_shapes": profile["max"],
    }
    lines = "\n".join(f'      parameters {{ key: "{k}" value: "{v}" }}' for k, v in parameters.items())
    return (
        "optimization { execution_accelerators {\n"
        "  gpu_execution_accelerator: [\n"
        '    { name: "tensorrt"\n'
        f"{lines}\n"
        "    }\n"
        "  ]\n"
        "} }"
    )


def profile_for(name: str, config_text: str) -> dict[str, str]:
    """min/opt/max shapes from the model's config record, up to the config's ``max_batch_size``."""
    from convert.tensorrt import shape_profile
    from ocrstack.config import model_config

    return shape_profile(model_config(name), max(1, max_batch_size(config_text)))


def rewrite_for_engine(
    name: str, text: str, engine: str, instances: int, cache_dir: str, profile: Callable[..., dict[str, str]]
) -> str:
    """One ONNX model's config for ``engine`` (``cpu``: unchanged)."""
    if engine == "cpu":
        return text
    header = (
        f"# Prepared for the {engine!r} engine by deploy/prepare_repository.py from the committed file.\n"
    )
    text = with_gpu_batching(name, replace_field(text, "instance_group", gpu_instances(instances)))
    if engine == "onnxruntime":
        return header + text
    if engine == "ort-tensorrt":
        if _top_level_fields(text, "optimization"):
            raise PrepareError(f"{name}: the committed config already has an optimization block")
        cache = f"{cache_dir.rstrip('/')}/{name}"
        return header + text.rstrip("\n") + "\n" + tensorrt_accelerator(profile(name, text), cache) + "\n"
    if engine == "tensorrt":
        text = remove_parameters(text, ORT_PARAMETERS).replace(ONNX_BACKEND, 'backend: "tensorrt"')
        return header + text
    raise PrepareError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


# --- the repository -------------------------------------------------------------------------------------


def onnx_models(source: Path) -> list[str]:
    return sorted(p.parent.name for p in source.glob("*/config.pbtxt") if ONNX_BACKEND in p.read_text())


def _clear(folder: Path) -> None:
    """Empty ``folder`` (a mounted volume cannot be removed itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def prepare(
    source: Path,
    out: Path,
    engine: str,
    engines_dir: Path | None = None,
    instances: int = 1,
    cache_dir: str = "/engine-cache",
    profile: Callable[..., dict[str, str]] = profile_for,
) -> list[str]:
    """Write the repository for ``engine`` to ``out``; returns the names of the models rewritten."""
    if engine not in ENGINES:
        raise PrepareError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if not (source / "ocr" / "config.pbtxt").is_file():
        raise PrepareError(f"{source} is not the model repository (no ocr/config.pbtxt)")
    models = onnx_models(source)
    missing = [m for m in models if not (source / m / "1" / "model.onnx").is_file()]
    if missing:
        raise PrepareError(f"no ONNX file for {', '.join(missing)}: run `make model-repository` first")
    manifest = _engine_manifest(engines_dir, models) if engine == "tensorrt" else {}
    _clear(out)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.partial")
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        shutil.copytree(folder, out / folder.name, ignore=ignore)
    for name in models:
        config = out / name / "config.pbtxt"
        text = rewrite_for_engine(name, config.read_text(), engine, instances, cache_dir, profile)
        config.write_text(text)
        if engine == "tensorrt":
            wanted = engine_record(source / name / "1" / "model.onnx", profile(name, text))
            if manifest[name] != wanted:
                raise PrepareError(
                    f"{name}: the plan in {engines_dir} was built from {manifest[name]}, the repository now "
                    f"holds {wanted}: run build-engines again"
                )
            (out / name / "1" / "model.onnx").unlink()
            shutil.copyfile(engines_dir / name / "model.plan", out / name / "1" / "model.plan")  # type: ignore[operator]
    return models if engine != "cpu" else []


def _engine_manifest(engines_dir: Path | None, models: list[str]) -> dict[str, dict[str, object]]:
    if engines_dir is None or not (engines_dir / ENGINES_MANIFEST).is_file():
        raise PrepareError(
            f"no TensorRT plans in {engines_dir}: build them on this GPU first "
            "(docker compose --profile tensorrt run --rm engines)"
        )
    manifest = json.loads((engines_dir / ENGINES_MANIFEST).read_text())
    missing = [m for m in models if m not in manifest or not (engines_dir / m / "model.plan").is_file()]
    if missing:
        raise PrepareError(f"no TensorRT plan for {', '.join(missing)} in {engines_dir}: run build-engines")
    return manifest


def engine_record(onnx_file: Path, profile: dict[str, str]) -> dict[str, object]:
    """What a plan was built from: the ONNX file's digest and the optimisation profile."""
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    return {"onnx_sha256": digest, "profile": profile}


def find_trtexec() -> str:
    found = shutil.which("trtexec")
    for folder in TRTEXEC_DIRS:
        candidate = Path(folder) / "trtexec"
        if found is None and os.access(candidate, os.X_OK):
            found = str(candidate)
    if found is None:
        raise PrepareError("trtexec not found: run build-engines inside the nvcr.io/nvidia/tensorrt image")
    return found


def build_engines(source: Path, out: Path, fp16: bool = True) -> dict[str, dict[str, object]]:
    """A TensorRT plan per ONNX model of ``source`` in ``out/<model>/model.plan``, and the manifest."""
    from convert.tensorrt import build_engine, trtexec_command
    from ocrstack.config import model_config

    trtexec = find_trtexec()
    manifest = {}
    for name in onnx_models(source):
        text = (source / name / "config.pbtxt").read_text()
        (out / name).mkdir(parents=True, exist_ok=True)
        plan = out / name / "model.plan"
        command = trtexec_command(
            source / name / "1" / "model.onnx", plan, model_config(name), max(1, max_batch_size(text)), fp16
        )
        print(" ".join(command), flush=True)
        build_engine([trtexec, *command[1:]])
        manifest[name] = engine_record(source / name / "1" / "model.onnx", profile_for(name, text))
    (out / ENGINES_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="copy the repository, configs rewritten for an engine")
    engine = os.environ.get("OCRSTACK_TRITON_ENGINE", "onnxruntime")
    prep.add_argument("--engine", choices=ENGINES, default=engine)
    prep.add_argument("--source", type=Path, required=True)
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--engines", type=Path, help="build-engines' output (engine tensorrt)")
    prep.add_argument("--instances", type=int, default=int(os.environ.get("OCRSTACK_GPU_INSTANCES", "1")))
    prep.add_argument("--cache", default="/engine-cache", help="TensorRT engine cache (engine ort-tensorrt)")
    build = commands.add_parser("build-engines", help="TensorRT plans with trtexec, on the serving GPU")
    build.add_argument("--source", type=Path, required=True)
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--fp32", action="store_true", help="build without --fp16")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            rewritten = prepare(args.source, args.out, args.engine, args.engines, args.instances, args.cache)
            names = ", ".join(rewritten) or "none"
            print(f"{args.out}: engine {args.engine}; rewritten: {names}", flush=True)
        else:
            built = build_engines(args.source, args.out, fp16=not args.fp32)
            print(f"{args.out}: plans for {', '.join(built)}", flush=True)
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
