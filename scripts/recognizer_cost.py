"""CPU time per crop of ONNX recognizers, by crop width, batch size and thread count (in process).

    .venv/bin/python scripts/recognizer_cost.py [MODEL.onnx ...] [--widths 160 320] [--batches 1 8] \\
        [--threads 1]

Default model: the served Chinese/English recognizer. Each case runs a few warm-up batches, then repeats
timed passes and keeps the lowest CPU time per crop (process time, all threads counted), the figure least
disturbed by other work on a shared machine. Idle ONNX Runtime threads sleep instead of spinning, as in
the server, so extra threads are only counted when they work.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "model_repository" / "text_recognition_ch" / "1" / "model.onnx"
HEIGHT = 48


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cpu_ms_per_crop(model: ort.InferenceSession, width: int, batch: int, repeats: int = 3) -> float:
    """Lowest over ``repeats`` passes of CPU milliseconds per crop for batches of ``batch`` crops."""
    name = model.get_inputs()[0].name
    crops = np.random.default_rng(0).random((batch, 3, HEIGHT, width), dtype=np.float32)
    for _ in range(2):
        model.run(None, {name: crops})
    runs = max(3, 16 // batch)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(runs):
            model.run(None, {name: crops})
        best = min(best, (time.process_time() - start) / (runs * batch) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", type=Path, nargs="*", default=[DEFAULT_MODEL])
    parser.add_argument("--widths", type=int, nargs="+", default=[160, 320])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    print(f"{'model':<40}{'threads':>8}{'width':>7}{'batch':>7}{'CPU ms/crop':>13}")
    for path in args.models:
        for threads in args.threads:
            model = session(path, threads)
            for width in args.widths:
                for batch in args.batches:
                    cost = cpu_ms_per_crop(model, width, batch)
                    label = path.parent.parent.name if path.name == "model.onnx" else path.name
                    print(f"{label:<40}{threads:>8}{width:>7}{batch:>7}{cost:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
