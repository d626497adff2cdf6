"""The gateway's one Triton client: gRPC asyncio, created in the app's lifespan, a deadline on every call.

Triton's failures become :class:`BackendError` with the HTTP status the gateway answers, chosen by the
gRPC status code alone: a request Triton rejects as invalid (``INVALID_ARGUMENT``: a corrupt image that
slipped past the checks, an unknown language) is the client's 400; an unreachable or not-ready server is
503 (with ``Retry-After``); a call past its deadline is 504; a failure inside the server (``INTERNAL``: a
recognizer that failed a batch) is 502, its message logged and not sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import tritonclient.grpc.aio as grpcaio
from tritonclient.utils import InferenceServerException

from ocrstack.serving.client import OUTPUTS, OcrResult, decode_texts, ocr_inputs, result_from

log = logging.getLogger("gateway.triton")


class BackendError(Exception):
    """Triton could not answer; ``status`` is the HTTP status to send, ``message`` is safe to show,
    ``kind`` the error code of the answer."""

    def __init__(self, status: int, message: str, kind: str = "backend") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


# gRPC status codes -> the gateway's answer. Only the code decides, never the message: the python
# models answer request errors as INVALID_ARG and their own failures as INTERNAL
# (ocrstack.serving.errors.error_response), and Triton keeps the code through the ensembles.
UNAVAILABLE_CODES = frozenset({"UNAVAILABLE", "UNKNOWN", "CANCELLED", "RESOURCE_EXHAUSTED", "UNIMPLEMENTED"})
NOT_LOADED_CODES = frozenset({"NOT_FOUND", "FAILED_PRECONDITION"})
REQUEST_CODES = frozenset({"INVALID_ARGUMENT", "OUT_OF_RANGE"})
# Where Triton names the ensemble step that failed; internal detail a client cannot act on.
_ENSEMBLE_PREFIX = re.compile(r"^(in ensemble '[^']*', )+")


def status_code(error: InferenceServerException) -> str:
    """``'StatusCode.INVALID_ARGUMENT'`` (gRPC) -> ``'INVALID_ARGUMENT'``; ``''`` when there is none."""
    return str(error.status() or "").rsplit(".", 1)[-1].strip().upper()


def backend_error(error: InferenceServerException) -> BackendError:
    """Map a tritonclient exception to the HTTP answer by its status code; see the module docstring."""
    code = status_code(error)
    if code == "DEADLINE_EXCEEDED":
        return BackendError(504, "the inference server did not answer in time")
    if code in UNAVAILABLE_CODES or not code:
        return BackendError(503, "the inference server is unavailable")
    if code in NOT_LOADED_CODES:
        return BackendError(503, "a model is not loaded")
    if code in REQUEST_CODES:
        detail = _ENSEMBLE_PREFIX.sub("", error.message() or "")
        return BackendError(400, f"the image could not be processed: {detail}", kind="invalid_input")
    log.error("inference server error %s: %s", code, error.message() or error)
    return BackendError(502, "the inference server failed on this request")


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


class ModelBackend(Protocol):
    """What the routes ask of the served models: :class:`TritonGateway`'s calls (tests stand in for it)."""

    async def ocr(self, model: str, image: bytes, lang: str | None) -> OcrResult: ...

    async def recognize(
        self, model: str, crops: list[bytes], lang: str | None, orientation: str, layout: str = "auto"
    ) -> CropReading: ...

    async def ready_models(self, models: Iterable[str]) -> dict[str, bool]: ...

    async def served_models(self) -> set[str]: ...


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
        outputs = [grpcaio.InferRequestedOutput(name) for name in OUTPUTS]
        return result_from(await self._infer(model, ocr_inputs(grpcaio, image, lang), outputs))

    async def recognize(
        self, model: str, crops: list[bytes], lang: str | None, orientation: str, layout: str = "auto"
    ) -> CropReading:
        inputs = [
            _bytes_input("crops", crops),
            _bytes_input("orientation", [orientation.encode()]),
            _bytes_input("layout", [layout.encode()]),
        ]
        if lang is not None:
            inputs.append(_bytes_input("lang", [lang.encode()]))
        response = await self._infer(model, inputs, None)
        return CropReading(
            decode_texts(response.as_numpy("texts")),
            response.as_numpy("scores").reshape(-1),
            decode_texts(response.as_numpy("orientations")),
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
