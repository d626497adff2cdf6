"""Issue 20, finding 5, against the real server: a python model's request error crosses the ensemble
as INVALID_ARGUMENT (the gateway's 400), not as INTERNAL (its 502)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from convert import parity_inputs
from ocrstack.serving.client import ocr_inputs
from ocrstack.serving.launcher.server import ServerOptions

pytestmark = pytest.mark.slow


def grpc_client(options: ServerOptions) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{options.grpc_port}")


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _status(options: ServerOptions, inputs: list) -> str:
    with pytest.raises(InferenceServerException) as refused:
        grpc_client(options).infer("ocr", inputs)
    return str(refused.value.status())


def test_corrupt_image_is_invalid_argument(triton: ServerOptions) -> None:
    data = np.frombuffer(b"\x89PNG this is not an image" * 20, np.uint8)
    image = grpcclient.InferInput("image", [data.size], "UINT8")
    image.set_data_from_numpy(data)
    assert _status(triton, [image]).endswith("INVALID_ARGUMENT")


def test_unknown_language_is_invalid_argument(triton: ServerOptions) -> None:
    inputs = ocr_inputs(grpcclient, png(parity_inputs.rendered_page()), lang="xx")
    assert _status(triton, inputs).endswith("INVALID_ARGUMENT")
