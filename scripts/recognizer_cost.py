"""CPU time per crop of ONNX recognizers, by crop width, batch size and thread count (in process).

    .venv/bin/python -m scripts.recognizer_cost [MODEL.onnx ...] [--widths 160 320] [--batches 1 8] \\
        [--threads 1]

Default model: the served Chinese/English recognizer. ``--untrained NAME`` adds a recognizer by its config
record, built with random weights and exported by ``convert/`` as its trained weights will be: its cost is
the architecture's, whatever the weights (e.g. ``--untrained text_recognition_ko_h`` before the Korean
weights exist). Each case runs a few warm-up batches, then repeats
timed passes and keeps the lowest CPU time per crop (process time, all threads counted), the figure least
disturbed by other work on a shared machine. Idle ONNX Runtime threads sleep instead of spinning, as in
the server, so extra threads are only counted when they work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from convert.export import export_onnx
from loadtest.batch_cost import ms_per_crop
from ocrstack.config import recognizer_config
from ocrstack.models import build_model
from ocrstack.weights.checkpoint import Checkpoint
from training.charset import load_charset

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "model_repository" / "text_recognition_ch" / "1" / "model.onnx"
HEIGHT = 48


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_untrained(name: str, folder: Path) -> Path:
    """``folder/<name>.onnx``: the recognizer of config record ``name`` with random weights."""
    config = recognizer_config(name)
    if config.charset_file is None:
        raise SystemExit(f"{name}: its charset comes with imported weights; pass its ONNX file instead")
    charset = load_charset(config.charset_file)
    model = build_model(config.architecture, len(charset) + 1)  # blank + charset, as training builds it
    checkpoint = Checkpoint(name, config.architecture, model.state_dict(), charset, source="untrained")
    return export_onnx(checkpoint, folder / f"{name}.onnx")


def cpu_ms_per_crop(model: ort.InferenceSession, width: int, batch: int, repeats: int = 3) -> float:
    """Lowest over ``repeats`` passes of CPU milliseconds per crop for batches of ``batch`` crops."""
    crops = np.random.default_rng(0).random((batch, 3, HEIGHT, width), dtype=np.float32)
    feed = {model.get_inputs()[0].name: crops}
    runs = max(3, 16 // batch)
    return ms_per_crop(lambda f: model.run(None, f), feed, runs, repeats, time.process_time, warm_up_runs=2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", type=Path, nargs="*", default=[DEFAULT_MODEL])
    parser.add_argument("--untrained", nargs="+", default=[], help="config record names to add")
    parser.add_argument("--widths", type=int, nargs="+", default=[160, 320])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="recognizer_cost_"))
    models = list(args.models) + [export_untrained(name, folder) for name in args.untrained]
    print(f"{'model':<40}{'threads':>8}{'width':>7}{'batch':>7}{'CPU ms/crop':>13}")
    for path in models:
        for threads in args.threads:
            model = session(path, threads)
            for width in args.widths:
                for batch in args.batches:
                    cost = cpu_ms_per_crop(model, width, batch)
                    label = path.parent.parent.name if path.name == "model.onnx" else path.name
                    print(f"{label:<40}{threads:>8}{width:>7}{batch:>7}{cost:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
