"""The pipeline driven by fake engines whose outputs are known from their inputs."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ocrstack.config import Orientation, detector_config, recognizer_config
from ocrstack.engine import InferenceEngine
from ocrstack.pipeline.pipeline import OcrPipeline, Recognizer, TextLine
from ocrstack.pipeline.stages import ImageTooSmallError

DET = detector_config()
REC = recognizer_config("text_recognition_ch")
CHARSET = ("a", "b", "c", " ")
# The fake recogniser reads the darkest grey of a crop: each grey is one character and one score.
GREYS = {20: ("a", 0.9), 60: ("b", 0.8), 110: ("c", 0.3)}


class FakeDetector(InferenceEngine):
    """Probability 1 where the input is dark grey, 0 elsewhere (black is padding: no text there)."""

    # The names of the original rapidocr files, not the config's: the pipeline must cope with both.
    @property
    def input_names(self):
        return ["x"]

    @property
    def output_names(self):
        return ["sigmoid"]

    @property
    def metadata(self):
        return {}

    def run(self, inputs, outputs=None):
        (batch,) = inputs.values()
        mean = batch.mean(axis=1, keepdims=True)
        return {"sigmoid": ((mean > -0.95) & (mean < -0.1)).astype(np.float32)}


class FakeRecognizer(InferenceEngine):
    @property
    def input_names(self):
        return ["image"]

    @property
    def output_names(self):
        return ["probabilities"]

    @property
    def metadata(self):
        return {"charset": "\n".join(CHARSET)}

    def __init__(self):
        self.calls: list[tuple[int, ...]] = []
        self.content_widths: list[int] = []  # columns that are not zero padding

    def run(self, inputs, outputs=None):
        batch = inputs["image"]
        self.calls.append(batch.shape)
        self.content_widths += [int((np.abs(item).max(axis=(0, 1)) > 0).sum()) for item in batch]
        probs = np.zeros((batch.shape[0], 4, len(CHARSET) + 1), dtype=np.float32)
        probs[:, :, 0] = 1.0  # blank by default
        for n, item in enumerate(batch):
            grey = min(GREYS, key=lambda g: abs((g / 255 - 0.5) / 0.5 - item.min()))
            char, score = GREYS[grey]
            probs[n, 1] = 0.0
            probs[n, 1, CHARSET.index(char) + 1] = score
        return {"probabilities": probs}


def page(rects) -> np.ndarray:
    """White page with filled rectangles (x0, y0, x1, y1, grey)."""
    image = np.full((300, 400, 3), 255, dtype=np.uint8)
    for x0, y0, x1, y1, grey in rects:
        image[y0:y1, x0:x1] = grey
    return image


def make(vertical: bool = False, **kwargs) -> tuple[OcrPipeline, FakeRecognizer, FakeRecognizer]:
    horizontal, column = FakeRecognizer(), FakeRecognizer()
    recognizers: dict[Orientation, Recognizer] = {"horizontal": Recognizer.from_engine(horizontal, REC)}
    if vertical:
        recognizers["vertical"] = Recognizer.from_engine(column, replace(REC, orientation="vertical"))
    return OcrPipeline(FakeDetector(), DET, recognizers, **kwargs), horizontal, column


def test_lines_come_back_in_reading_order_with_boxes_in_image_pixels():
    rects = [(220, 52, 340, 72, 60), (40, 50, 160, 70, 20), (40, 150, 200, 170, 20)]
    pipeline, _, _ = make()
    lines = pipeline(page(rects))
    assert [line.text for line in lines] == ["a", "b", "a"]
    assert all(isinstance(line, TextLine) and line.orientation == "horizontal" for line in lines)
    for line, (x0, y0, x1, y1, _) in zip(lines, [rects[1], rects[0], rects[2]], strict=True):
        assert line.box.shape == (4, 2) and line.box.dtype == np.float32
        # The grown box holds the rectangle, with a margin of a few pixels.
        assert line.box[0, 0] <= x0 and line.box[2, 0] >= x1 - 1 and line.box[0, 1] <= y0
        assert line.box[2, 1] >= y1 - 1 and line.box[0, 1] > y0 - 20


def test_low_confidence_lines_are_dropped():
    image = page([(40, 50, 160, 70, 20), (40, 150, 160, 170, 110)])
    pipeline, _, _ = make()
    assert [line.text for line in pipeline(image)] == ["a"]
    pipeline, _, _ = make(min_text_score=0.2)
    assert [line.text for line in pipeline(image)] == ["a", "c"]


def test_vertical_crops_are_turned_for_the_horizontal_model():
    pipeline, horizontal, _ = make()
    lines = pipeline(page([(180, 40, 200, 240, 20)]))  # a 20 x 200 column
    assert [(line.text, line.orientation) for line in lines] == [("a", "vertical")]
    ((n, channels, height, width),) = horizontal.calls
    assert (n, channels, height) == (1, 3, 48) and width >= 320  # read as a long row


def test_vertical_crops_go_to_the_vertical_model_when_there_is_one():
    pipeline, horizontal, column = make(vertical=True)
    lines = pipeline(page([(180, 40, 200, 240, 20), (20, 20, 140, 40, 60)]))
    assert sorted((line.text, line.orientation) for line in lines) == [("a", "vertical"), ("b", "horizontal")]
    assert len(horizontal.calls) == 1 and len(column.calls) == 1
    # Turned: the 200 px column (plus margins) is a 48-high row about 225 px long, not a 10 px sliver.
    assert column.calls[0][2:] == (48, 320) and column.content_widths[0] > 200


def test_recognize_groups_by_bucket_and_batches():
    pipeline, horizontal, _ = make()
    narrow = [np.zeros((48, 100, 3), np.uint8)] * 13
    wide = [np.full((24, 300, 3), 60, np.uint8)] * 2  # 600 wide at height 48: the 640 bucket
    crops = [*narrow[:5], *wide, *narrow[5:]]
    results = pipeline.recognize(crops)
    assert [text for text, _ in results] == ["a"] * 5 + ["b"] * 2 + ["a"] * 8
    assert sorted(horizontal.calls) == sorted(
        [(6, 3, 48, 320), (6, 3, 48, 320), (1, 3, 48, 320), (2, 3, 48, 640)]
    )


def test_recognize_batch_size_is_a_knob():
    pipeline, horizontal, _ = make(rec_batch_size=4)
    pipeline.recognize([np.zeros((48, 100, 3), np.uint8)] * 9)
    assert [shape[0] for shape in horizontal.calls] == [4, 4, 1]


def test_empty_page_and_tiny_image():
    pipeline, _, _ = make()
    assert pipeline(page([])) == []
    with pytest.raises(ImageTooSmallError, match="at least"):
        pipeline(np.zeros((1, 1, 3), np.uint8))
    assert pipeline(np.zeros((8, 8, 3), np.uint8)) == []
    assert pipeline.recognize([]) == []


def test_single_line_strip_is_padded_before_detection():
    strip = np.full((24, 400, 3), 255, dtype=np.uint8)
    strip[4:20, 20:380] = 20
    pipeline, _, _ = make()
    (line,) = pipeline(strip)
    assert line.text == "a"
    assert line.box[:, 1].min() >= 0 and line.box[:, 1].max() <= 23  # back in the strip's own pixels


def test_detect_returns_scores():
    pipeline, _, _ = make()
    quads, scores = pipeline.detect(page([(40, 50, 160, 70, 20)]))
    assert quads.shape == (1, 4, 2) and scores.shape == (1,) and scores[0] > 0.5


def test_a_horizontal_recognizer_is_required():
    with pytest.raises(ValueError):
        OcrPipeline(FakeDetector(), DET, {})


# --- from_onnx, on two tiny ONNX models written here --------------------------------------------------


def save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str]) -> Path:
    # IR version 8 is read by every ONNX Runtime this project pins.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
    return path


def tiny_detector(path: Path) -> Path:
    """sigmoid(-20 * (mean over channels + 0.3)): dark pixels -> 1."""
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1),
        helper.make_node("Add", ["m", "shift"], ["s"]),
        helper.make_node("Mul", ["s", "gain"], ["g"]),
        helper.make_node("Sigmoid", ["g"], ["prob"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(0.3, np.float32), "shift"),
        numpy_helper.from_array(np.array(-20.0, np.float32), "gain"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["n", 1, "h", "w"])
    return save(helper.make_graph(nodes, "det", [x], [y], inits), path, {})


def tiny_recognizer(path: Path, metadata: dict[str, str]) -> Path:
    """Per column: darkest value v over channels and rows -> logits [0, 8v, -8v, -v, -v] -> softmax.

    White columns read as class 1 ("a"), dark ones as class 2 ("b"), padding (0) as blank.
    """
    nodes = [
        helper.make_node("ReduceMin", ["x", "axes"], ["m"], keepdims=0),  # n x w
        helper.make_node("Unsqueeze", ["m", "last"], ["u"]),  # n x w x 1
        helper.make_node("MatMul", ["u", "weight"], ["logits"]),  # n x w x 5
        helper.make_node("Softmax", ["logits"], ["probs"], axis=2),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
        numpy_helper.from_array(np.array([2], np.int64), "last"),
        numpy_helper.from_array(np.array([[0.0, 8.0, -8.0, -1.0, -1.0]], np.float32), "weight"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 48, "w"])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", "t", 5])
    return save(helper.make_graph(nodes, "rec", [x], [y], inits), path, metadata)


@pytest.mark.parametrize(
    "metadata", [{"charset": "a\nb\nc\n "}, {"character": "a\nb\nc"}], ids=["ours", "rapidocr"]
)
def test_from_onnx_reads_charset_and_runs(tmp_path, metadata):
    pipeline = OcrPipeline.from_onnx(
        tiny_detector(tmp_path / "det.onnx"),
        {"horizontal": tiny_recognizer(tmp_path / "rec.onnx", metadata)},
        DET,
        {"horizontal": REC},
        threads=1,
    )
    assert pipeline.recognizers["horizontal"].charset == ("a", "b", "c", " ")
    (line,) = pipeline(page([(40, 50, 160, 70, 20)]))
    assert line.text == "aba"  # white margin, dark bar, white margin
    assert line.score > 0.9


def test_crops_that_are_not_one_line_are_read_row_by_row():
    """A crop with a tall dark word and a short lighter one beside it: read whole, the recognizer sees
    the darkest grey only; with the detector's rows, both words, left to right."""
    crop = np.full((60, 300, 3), 255, np.uint8)
    crop[5:55, 10:150] = 20
    crop[30:45, 170:290] = 60
    pipeline, _, _ = make()
    assert pipeline.read_crops([crop], layout="line") == [("a", pytest.approx(0.9), "horizontal")]
    ((text, score, orientation),) = pipeline.read_crops([crop])
    assert (text, orientation) == ("a b", "horizontal") and score == pytest.approx(0.85)
    tight = np.full((30, 120, 3), 20, np.uint8)  # all text: read whole, as before
    assert pipeline.read_crops([tight]) == pipeline.read_crops([tight], layout="line")
