"""Reading crops with the served recognizers through BLS, shared by the python models that read crops.

Which recognizers exist is read from the model repository at load time; a request's language picks among
them by their config records' languages, and each crop goes to the model of its orientation. The mode
says how crops travel:

- ``batched``: crops are grouped by width bucket and sent in chunks of the recognizer's preferred batch
  size (never more than its ``max_batch_size``), all chunks in flight at once, so that Triton's dynamic
  batcher can also merge them with other requests' chunks;
- ``sequential``: one crop per request, each awaited before the next: the baseline that shows what
  batching buys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from ocrstack.config import RECOGNIZERS, Orientation, RecognizerConfig, recognizers_for
from ocrstack.pipeline import charset_from_model_metadata, decode_best_path, recognition_batch
from ocrstack.pipeline.mixed_script import keep_better, lines_to_read_again
from ocrstack.pipeline.stages import recognition_chunks, route
from ocrstack.pipeline.word_spaces import rule_for
from ocrstack.serving.repository import model_names, onnx_metadata, read_model_config

MODES = ("batched", "sequential")


class RecognitionError(RuntimeError):
    """A recognizer call failed inside the server (not the client's fault)."""


@dataclass(frozen=True)
class ServedRecognizer:
    config: RecognizerConfig
    charset: tuple[str, ...]
    chunk_size: int  # crops per request in batched mode, at the narrowest width bucket

    @classmethod
    def load(cls, model_dir: Path) -> ServedRecognizer:
        """Read the recognizer's charset from its ONNX file and its chunk size from its Triton config:
        the largest ``preferred_batch_size`` (the batch it runs best at), else its ``max_batch_size``."""
        config = RECOGNIZERS[model_dir.name]
        charset = charset_from_model_metadata(onnx_metadata(model_dir), config.use_space_char)
        triton_config = read_model_config(model_dir)
        preferred = list(triton_config.dynamic_batching.preferred_batch_size)
        chunk = max(preferred) if preferred else triton_config.max_batch_size
        return cls(config, tuple(charset), max(1, min(chunk, triton_config.max_batch_size or chunk)))


@dataclass(frozen=True)
class ReadCrops:
    texts: list[str]
    scores: np.ndarray  # N float32, mean confidence of each crop's text
    confident: np.ndarray  # N bool, score at least the reading model's min_score


class BlsRecognition:
    """The repository's recognizers, called through BLS in one of :data:`MODES`."""

    def __init__(self, repository: Path, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"recognition_mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        names = model_names(repository) & set(RECOGNIZERS)
        self.recognizers = {name: ServedRecognizer.load(repository / name) for name in sorted(names)}

    def models_for(self, language: str) -> dict[Orientation, str]:
        """Recognizer names by orientation for a language; ValueError (a client error) when none reads it."""
        try:
            return recognizers_for(language, set(self.recognizers))
        except KeyError as error:
            raise ValueError(error.args[0]) from None

    async def read(
        self, crops: Sequence[np.ndarray], orientations: Sequence[Orientation], language: str
    ) -> ReadCrops:
        """Crops already laid out as rows (vertical ones turned), each read by its orientation's model."""
        models = self.models_for(language)
        texts: list[str] = [""] * len(crops)
        scores = np.zeros(len(crops), np.float32)
        confident = np.zeros(len(crops), bool)
        for orientation, indices in route(orientations, list(models)).items():
            served = self.recognizers[models[orientation]]
            read = await self._read_with_second_reader(served, [crops[i] for i in indices])
            for index, (text, score) in zip(indices, read, strict=True):
                texts[index], scores[index] = text, score
                confident[index] = score >= served.config.min_score
        return ReadCrops(texts, scores, confident)

    async def _read_with_second_reader(
        self, served: ServedRecognizer, crops: list[np.ndarray]
    ) -> list[tuple[str, float]]:
        """``served``'s readings, the lines its record's ``second_reader`` should check read again
        by it where the repository has it, and the better of each pair kept (:mod:`mixed_script`)."""
        results = await self._recognize(served, crops)
        second = self.recognizers.get(served.config.second_reader or "")
        again = lines_to_read_again(results, served.config) if second is not None else []
        if second is None or not again:
            return results
        keep_better(results, again, await self._recognize(second, [crops[i] for i in again]))
        return results

    async def _recognize(self, served: ServedRecognizer, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        sequential = self.mode == "sequential"
        if sequential:
            chunks = recognition_chunks(crops, served.config, 1)
        else:
            budget = served.chunk_size * served.config.width_buckets[0]
            chunks = recognition_chunks(crops, served.config, served.chunk_size, max_total_width=budget)
        batches = [recognition_batch([crops[i] for i in chunk], served.config, w) for w, chunk in chunks]
        if sequential:
            outputs = [await self._infer(served, batch) for batch in batches]
        else:
            outputs = list(await asyncio.gather(*(self._infer(served, batch) for batch in batches)))
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        word_spaces = rule_for(served.config)
        for (_, chunk), (classes, scores) in zip(chunks, outputs, strict=True):
            read = decode_best_path(classes, scores, served.charset, word_spaces)
            for index, result in zip(chunk, read, strict=True):
                results[index] = result
        return results

    async def _infer(self, served: ServedRecognizer, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best path (N x T classes and their probabilities) for one batch of crops."""
        config = served.config
        request = pb_utils.InferenceRequest(
            model_name=config.name,
            inputs=[pb_utils.Tensor(config.input_name, batch)],
            requested_output_names=[config.classes_output, config.class_scores_output],
        )
        response = await request.async_exec()
        if response.has_error():
            raise RecognitionError(f"{config.name}: {response.error().message()}")
        classes = pb_utils.get_output_tensor_by_name(response, config.classes_output).as_numpy()
        scores = pb_utils.get_output_tensor_by_name(response, config.class_scores_output).as_numpy()
        return classes, scores
