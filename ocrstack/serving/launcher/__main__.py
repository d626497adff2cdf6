"""``python -m ocrstack.serving.launcher serve``: the embedded Triton server on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ocrstack.serving.launcher.server import ServerOptions, serve


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m ocrstack.serving.launcher", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start Triton on the model repository and wait")
    defaults = ServerOptions()
    run.add_argument("--repository", type=Path, default=defaults.repository)
    run.add_argument("--http-port", type=int, default=defaults.http_port)
    run.add_argument("--grpc-port", type=int, default=defaults.grpc_port)
    run.add_argument("--metrics-port", type=int, default=defaults.metrics_port)
    run.add_argument("--workdir", type=Path, default=defaults.workdir, help="where the backend folder goes")
    run.add_argument("--log-verbose", type=int, default=0)
    run.add_argument("--ready-timeout", type=float, default=defaults.ready_timeout_s)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = ServerOptions(
        repository=args.repository,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        workdir=args.workdir,
        log_verbose=args.log_verbose,
        ready_timeout_s=args.ready_timeout,
    )
    return serve(options)


if __name__ == "__main__":
    sys.exit(main())
