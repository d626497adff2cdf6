"""Framework-free reference OCR pipeline (numpy, OpenCV, pyclipper, shapely; no torch).

Every stage is a pure function that the Triton models and the gateway import, so that served and
in-process results cannot drift apart. The in-process pipeline, which runs the models with ONNX Runtime,
is :mod:`ocrstack.pipeline.pipeline`; it is not imported here, so that the stages load without ONNX
Runtime (the Triton python models and the gateway never run a model themselves).
"""

from ocrstack.pipeline.ctc import (
    charset_from_metadata,
    charset_from_model_metadata,
    charset_to_metadata,
    ctc_greedy_decode,
    decode_best_path,
)
from ocrstack.pipeline.db_postprocess import boxes_from_probability_map
from ocrstack.pipeline.geometry import crop_quad, is_vertical, order_quad_points, rotate_to_horizontal
from ocrstack.pipeline.image_io import ImageDecodeError, decode_image
from ocrstack.pipeline.preprocess import (
    choose_width_bucket,
    detection_input,
    normalize,
    recognition_batch,
)
from ocrstack.pipeline.reading_order import reading_order
from ocrstack.pipeline.stages import ImageTooSmallError

__all__ = [
    "ImageDecodeError",
    "ImageTooSmallError",
    "boxes_from_probability_map",
    "charset_from_metadata",
    "charset_from_model_metadata",
    "charset_to_metadata",
    "choose_width_bucket",
    "crop_quad",
    "ctc_greedy_decode",
    "decode_best_path",
    "decode_image",
    "detection_input",
    "is_vertical",
    "normalize",
    "order_quad_points",
    "reading_order",
    "recognition_batch",
    "rotate_to_horizontal",
]
