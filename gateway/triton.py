"""The gateway's one Triton client: gRPC asyncio, created in the app's lifespan, a deadline on every call.

Triton's failures become :class:`BackendError` with the HTTP status the gateway answers: a request Triton
rejects as invalid (a corrupt image that slipped past the checks, an unknown language) is the client's
400; an unreachable or not-ready server is 503 (with ``Retry-After``); a call past its deadline is 504; a
failure inside the server (a recognizer that failed a batch) is 502.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcaio
from tritonclient.utils import InferenceServerException

from ocrstack.serving.client import OUTPUTS, OcrResult, result_from


class BackendError(Exception):
    """Triton could not answer; ``status`` is the HTTP status to send, ``message`` is safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# gRPC status codes that mean "the server is not there (yet)" rather than "your request is wrong".
UNAVAILABLE_CODES = ("UNAVAILABLE", "UNKNOWN", "CANCELLED", "RESOURCE_EXHAUSTED", "UNIMPLEMENTED")


def backend_error(error: InferenceServerException) -> BackendError:
    """Map a tritonclient exception to the HTTP answer; see the module docstring."""
    status = str(error.status() or "")
    message = error.message() or str(error)
    if "DEADLINE_EXCEEDED" in status or "Deadline Exceeded" in message:
        return BackendError(504, "the inference server did not answer in time")
    if any(code in status for code in UNAVAILABLE_CODES) or "failed to connect" in message.lower():
        return BackendError(503, "the inference server is unavailable")
    if "INTERNAL" in status and "RecognitionError" not in message:
        # The python models answer client mistakes (a corrupt image, a bad language) as their errors;
        # Triton passes those on as INTERNAL too, so the message decides.
        return BackendError(400, f"the image could not be processed: {message}")
    if "NOT_FOUND" in status or "not found" in message.lower() or "unavailable model" in message.lower():
        return BackendError(503, f"a model is not loaded: {message}")
    return BackendError(400 if "INVALID_ARG" in status else 502, message)


# gRPC backs off between reconnects up to 2 minutes by default: a Triton restart would then go unseen
# for that long. Retry every second at most, so readiness flips back soon after the server does.
RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


@dataclass(frozen=True)
class CropReading:
    texts: list[str]
    scores: np.ndarray
    orientations: list[str]


def _bytes_input(name: str, values: Iterable[bytes]) -> grpcaio.InferInput:
    array = np.array(list(values), dtype=np.object_)
    tensor = grpcaio.InferInput(name, [len(array)], "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def _decode(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


class TritonGateway:
    """Typed calls to the served models; one instance per process, safe for concurrent use."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.client = grpcaio.InferenceServerClient(url, channel_args=RECONNECT)

    async def close(self) -> None:
        await self.client.close()

    async def ocr(self, model: str, image: bytes, lang: str | None) -> OcrResult:
        """Boxes, texts and scores of the ``ocr`` contract (``ocr``, ``ocr_sequential``, ``detection``)."""
        data = np.frombuffer(image, dtype=np.uint8)
        inputs = [grpcaio.InferInput("image", [data.size], "UINT8")]
        inputs[0].set_data_from_numpy(data)
        if lang is not None:
            inputs.append(_bytes_input("lang", [lang.encode()]))
        outputs = [grpcaio.InferRequestedOutput(name) for name in OUTPUTS]
        return result_from(await self._infer(model, inputs, outputs))

    async def recognize(
        self, model: str, crops: list[bytes], lang: str | None, orientation: str
    ) -> CropReading:
        inputs = [_bytes_input("crops", crops), _bytes_input("orientation", [orientation.encode()])]
        if lang is not None:
            inputs.append(_bytes_input("lang", [lang.encode()]))
        response = await self._infer(model, inputs, None)
        return CropReading(
            _decode(response.as_numpy("texts")),
            response.as_numpy("scores").reshape(-1),
            _decode(response.as_numpy("orientations")),
        )

    async def _infer(self, model: str, inputs: list, outputs: list | None):
        try:
            return await self.client.infer(model, inputs, outputs=outputs, client_timeout=self.timeout_s)
        except InferenceServerException as error:
            raise backend_error(error) from None

    async def ready_models(self, models: Iterable[str]) -> dict[str, bool]:
        """Whether the server is live and each model is ready; all False when it cannot be reached."""
        names = list(models)
        try:
            if not await self.client.is_server_ready(client_timeout=min(self.timeout_s, 2.0)):
                return dict.fromkeys(names, False)
            return {name: await self._model_ready(name) for name in names}
        except InferenceServerException:
            return dict.fromkeys(names, False)

    async def _model_ready(self, name: str) -> bool:
        return bool(await self.client.is_model_ready(name, client_timeout=min(self.timeout_s, 2.0)))

    async def served_models(self) -> set[str]:
        """Names of the models the server has loaded and ready; empty when it cannot be reached."""
        try:
            index = await self.client.get_model_repository_index(
                as_json=True, client_timeout=min(self.timeout_s, 2.0)
            )
        except InferenceServerException:
            return set()
        return {m["name"] for m in index.get("models", []) if m.get("state") == "READY"}
