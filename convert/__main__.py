"""Command line: ``python -m convert {onnx,repository,tensorrt} ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convert.export import export_onnx
from convert.fp16 import to_fp16
from convert.parity import check_parity
from convert.repository import build_repository, parity_batches
from convert.repository_checks import repository_problems
from convert.tensorrt import build_engine, trtexec_command
from ocrstack.config import model_config
from ocrstack.weights.checkpoint import load_checkpoint


def _onnx(args: argparse.Namespace) -> None:
    checkpoint = load_checkpoint(args.checkpoint)
    path = export_onnx(checkpoint, args.output, args.opset)
    report = check_parity(checkpoint, path, parity_batches(checkpoint.config_name))
    print(f"{path}: parity with PyTorch, max |diff| {report.max_abs_diff:.2e}")
    if args.fp16:
        half = to_fp16(path, path.with_name(path.stem + "_fp16.onnx"))
        print(f"{half}: float16 variant (float32 inputs and outputs)")


def _repository(args: argparse.Namespace) -> None:
    for path in build_repository(args.checkpoints, args.repository, args.force):
        print(path)
    # The repository as built, checked the way the Triton container would load it: a config that
    # disagrees with its record, its ONNX file, the ensemble chain or the batching rules fails here.
    problems = repository_problems(args.repository)
    if problems:
        print(f"{args.repository}: {len(problems)} problem(s) in the model repository:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1)


def _tensorrt(args: argparse.Namespace) -> None:
    config = model_config(args.model)
    engine = args.engine or args.onnx.with_suffix(".plan")
    command = trtexec_command(args.onnx, engine, config, args.max_batch, fp16=not args.fp32)
    print(" ".join(command))
    if not args.dry_run:
        build_engine(command)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m convert", description="Model conversion")
    commands = root.add_subparsers(dest="command", required=True)

    onnx_cmd = commands.add_parser("onnx", help="checkpoint -> ONNX, checked against PyTorch")
    onnx_cmd.add_argument("checkpoint", type=Path)
    onnx_cmd.add_argument("-o", "--output", type=Path, required=True)
    onnx_cmd.add_argument("--opset", type=int, default=17)
    onnx_cmd.add_argument("--fp16", action="store_true", help="also write a float16 variant")
    onnx_cmd.set_defaults(run=_onnx)

    repo_cmd = commands.add_parser(
        "repository",
        help="export every checkpoint into the model repository, then check its configs",
        description="Export every missing or stale checkpoint into the model repository, then check the "
        "whole repository (configs against their config records, ONNX files, the ensemble chain and the "
        "batching rules); exits with status 1, listing every problem, when a check fails.",
    )
    repo_cmd.add_argument("--checkpoints", type=Path, default=Path("build/checkpoints"))
    repo_cmd.add_argument("--repository", type=Path, default=Path("model_repository"))
    repo_cmd.add_argument("--force", action="store_true")
    repo_cmd.set_defaults(run=_repository)

    trt_cmd = commands.add_parser("tensorrt", help="build a TensorRT engine with trtexec (GPU hosts)")
    trt_cmd.add_argument("onnx", type=Path)
    trt_cmd.add_argument("--model", required=True, help="config record name, e.g. text_detection")
    trt_cmd.add_argument("--engine", type=Path)
    trt_cmd.add_argument("--max-batch", type=int, default=32)
    trt_cmd.add_argument("--fp32", action="store_true", help="build without --fp16")
    trt_cmd.add_argument("--dry-run", action="store_true", help="print the command only")
    trt_cmd.set_defaults(run=_tensorrt)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
