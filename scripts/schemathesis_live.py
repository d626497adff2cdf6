"""Schemathesis with all its checks against a live stack: every route, every body media type, positive
and negative data; no 5xx and no answer that contradicts the OpenAPI document.

    python -m scripts.schemathesis_live                    # starts python -m devtools.stack, then runs
    python -m scripts.schemathesis_live --url URL          # against a gateway that is already running

The stack (what ``make run`` starts: real Triton, the Papago-compatible server) runs on free loopback
ports and is stopped at the end. The command run is printed first; its checks are configured in
``scripts/schemathesis.toml``. Exit status: schemathesis' own (0: no failure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from scripts.soak import REPO, start_stack

CONFIG = Path(__file__).with_name("schemathesis.toml")


def command(url: str, examples: int, seed: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        f"--config-file={CONFIG.relative_to(REPO)}",
        "run",
        f"{url}/openapi.json",
        "--checks=all",
        "--mode=all",
        f"--max-examples={examples}",
        f"--seed={seed}",
        "--workers=1",  # one request at a time: admission control never sheds one
        "--request-timeout=90",
        "--generation-database=none",  # nothing written into the working tree
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running gateway; else a stack is started")
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=REPO / "build/schemathesis")
    args = parser.parse_args(argv)
    stack = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        stack, url, _, _ = start_stack(args.workdir)
    try:
        run = command(url, args.max_examples, args.seed)
        print(" ".join(run), flush=True)
        return subprocess.run(run, cwd=REPO).returncode
    finally:
        if stack is not None:
            stack.stop(timeout_s=60)


if __name__ == "__main__":
    sys.exit(main())
