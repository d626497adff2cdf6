"""The Korean recognizer: shapes, size, the [N, 3, 48, W] contract, the factory, ONNX export parity,
trainability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from convert.export import OPSET, export_onnx
from ocrstack.config import (
    KOREAN_ARCHITECTURES,
    PADDLE_NORMALIZATION,
    RECOGNIZERS,
    Orientation,
    RecognizerConfig,
)
from ocrstack.models import build_model
from ocrstack.models.korean_rec import (
    BLOCKS,
    INITIALS,
    INPUT_HEIGHT,
    SEQUENCE_STRIDES,
    VOWELS,
    KoreanRecognizer,
    backbone_blocks,
    count_parameters,
    jamo_table,
)
from ocrstack.weights.checkpoint import Checkpoint

STRIDE_OF_ARCHITECTURE = {"korean_mobilenetv3_bilstm": 8, "korean_mobilenetv3_bilstm_stride4": 4}
# The design at the stride each orientation would use (the served lines model is now korean_ppocrv4_rec).
ARCHITECTURE_OF_ORIENTATION = {
    "horizontal": "korean_mobilenetv3_bilstm_stride4",
    "vertical": "korean_mobilenetv3_bilstm",
}
# About a Korean charset's size: KS X 1001's 2,350 Hangul syllables, ASCII, punctuation, space and blank.
NUM_CLASSES = 2600
# Hangul syllables from U+AC00 on, then a few other characters: classes with jamo and classes without.
CHARSET = [chr(0xAC00 + i) for i in range(NUM_CLASSES - 6)] + list("AZ09 ")
MAX_PARAMETERS = 1_500_000


def _random_model(seed: int = 0, sequence_stride: int = 8) -> KoreanRecognizer:
    """Random weights and random batch-norm statistics (the defaults would make every norm an identity
    and hide export mistakes in them)."""
    torch.manual_seed(seed)
    model = KoreanRecognizer(NUM_CLASSES, sequence_stride)
    model.set_charset(CHARSET)
    torch.nn.init.normal_(model.jamo.scores.weight, std=0.1)  # zero at construction: exercise the path
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("stride", SEQUENCE_STRIDES)
@pytest.mark.parametrize("length", [8, 45, 160, 320, 968])
def test_output_shape_and_probabilities(length: int, stride: int) -> None:
    model = _random_model(sequence_stride=stride)
    x = model.example_input(length, batch=2)
    assert x.shape == (2, 3, INPUT_HEIGHT, length)
    with torch.no_grad():
        probabilities = model(x)
    assert probabilities.shape == (2, model.sequence_length(length), NUM_CLASSES)
    assert model.sequence_length(length) == -(-length // stride)
    assert torch.all(probabilities >= 0)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, model.sequence_length(length)))


@pytest.mark.parametrize("shape", [(1, 3, 32, 160), (1, 3, 160, INPUT_HEIGHT)])
def test_wrong_height_is_refused(shape: tuple[int, ...]) -> None:
    """A column that was not turned (or a crop resized to another height) is an error, not a misread."""
    with pytest.raises(ValueError, match="48"):
        KoreanRecognizer(10)(torch.rand(shape))


def test_too_few_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        KoreanRecognizer(1)


def test_parameter_budget() -> None:
    assert count_parameters(KoreanRecognizer(NUM_CLASSES)) <= MAX_PARAMETERS


@pytest.mark.parametrize(("architecture", "stride"), STRIDE_OF_ARCHITECTURE.items())
def test_factory_builds_it(architecture: str, stride: int) -> None:
    model = build_model(architecture, NUM_CLASSES)
    assert isinstance(model, KoreanRecognizer)
    assert (model.num_classes, model.sequence_stride) == (NUM_CLASSES, stride)
    with pytest.raises(ValueError, match="num_classes"):
        build_model(architecture)


def test_columns_are_served_at_stride_8() -> None:
    """Columns (stacked syllables) at stride 8; lines moved to the PP-OCR body (korean_ppocr_rec)."""
    assert STRIDE_OF_ARCHITECTURE[KOREAN_ARCHITECTURES["vertical"]] == 8
    assert KOREAN_ARCHITECTURES["horizontal"] == "korean_ppocrv4_rec"


def test_stride_4_keeps_the_fourth_blocks_width_and_every_weight() -> None:
    assert backbone_blocks(8) == BLOCKS
    changed = [i for i, (a, b) in enumerate(zip(BLOCKS, backbone_blocks(4), strict=True)) if a != b]
    assert changed == [3] and backbone_blocks(4)[3].stride == (2, 1)
    with pytest.raises(ValueError, match="stride"):
        KoreanRecognizer(NUM_CLASSES, sequence_stride=2)
    # Weights of one stride load into a model of the other: a stride is not a weight.
    coarse, fine = KoreanRecognizer(NUM_CLASSES, 8).state_dict(), KoreanRecognizer(NUM_CLASSES, 4)
    fine.load_state_dict(coarse)


def test_log_probs_and_logits_agree_with_probabilities() -> None:
    model = _random_model()
    x = model.example_input(96, batch=2)
    with torch.no_grad():
        probabilities = model(x)
        torch.testing.assert_close(model.log_probs(x).exp(), probabilities)
        torch.testing.assert_close(model.logits(x).softmax(-1), probabilities)


def test_jamo_table_names_each_syllables_jamo() -> None:
    table = jamo_table(["가", "한", "A", "힣"])
    # 한 = ㅎ (initial 18) + ㅏ (vowel 0) + ㄴ (final 4); 힣 = ㅎ + ㅣ (20) + ㅎ (27); slot 0: no jamo.
    assert table[:, 2].tolist() == [1 + 18, 1 + INITIALS + 0, 1 + INITIALS + VOWELS + 4]
    assert table[:, 4].tolist() == [1 + 18, 1 + INITIALS + 20, 1 + INITIALS + VOWELS + 27]
    assert table[:, 0].tolist() == [0, 0, 0] and table[:, 3].tolist() == [0, 0, 0]  # blank, "A"


def test_jamo_scores_add_to_syllables_only() -> None:
    model = _random_model()
    features = torch.randn(1, 4, model.head.in_features)
    jamo = model.jamo(features)
    latin = CHARSET.index("A") + 1
    assert torch.all(jamo[..., 0] == 0) and torch.all(jamo[..., latin] == 0)
    # Two syllables sharing initial and vowel differ by their finals' scores alone.
    slots = model.jamo.scores(features)
    final = 1 + INITIALS + VOWELS  # 가 has no final (final 0), 각 has ㄱ (final 1)
    difference = jamo[..., 2] - jamo[..., 1]
    torch.testing.assert_close(difference, slots[..., final] - slots[..., final - 1])


def test_a_new_models_jamo_scores_start_at_zero() -> None:
    model = KoreanRecognizer(NUM_CLASSES)
    model.set_charset(CHARSET)
    assert torch.all(model.jamo(torch.randn(2, 3, model.head.in_features)) == 0)
    with pytest.raises(ValueError, match="classes"):
        model.set_charset(CHARSET[:-1])


def test_ctc_training_step_lowers_the_loss() -> None:
    """A few optimiser steps on a fixed batch: gradients reach the whole network through log_probs."""
    torch.manual_seed(0)
    model = KoreanRecognizer(20, dropout=0.0)
    x = model.example_input(128, batch=4)
    targets = torch.randint(1, 20, (4, 5))
    lengths = torch.full((4,), model.sequence_length(128), dtype=torch.long)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = ctc(model.log_probs(x).transpose(0, 1), targets, lengths, torch.full((4,), 5))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(p.grad is not None for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0]


Exported = tuple[KoreanRecognizer, RecognizerConfig, Path, ort.InferenceSession]


def _config(orientation: Orientation) -> RecognizerConfig:
    """A record like the Korean recognizers': both orientations share the input layout; the output's
    length differs by the architecture's sequence stride."""
    return RecognizerConfig(
        name=f"test_text_recognition_ko_{orientation}",
        architecture=ARCHITECTURE_OF_ORIENTATION[orientation],
        normalization=PADDLE_NORMALIZATION,
        orientation=orientation,
    )


@pytest.fixture(scope="module", params=["horizontal", "vertical"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """convert/'s own export of a random-weight checkpoint, the test record registered for the call."""
    config = _config(request.param)
    model = _random_model(seed=1, sequence_stride=STRIDE_OF_ARCHITECTURE[config.architecture])
    checkpoint = Checkpoint(config.name, config.architecture, model.state_dict(), CHARSET, source="random")
    path = tmp_path_factory.mktemp("korean_rec") / f"{config.name}.onnx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(RECOGNIZERS, config.name, config)
        export_onnx(checkpoint, path)
    return model, config, path, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _dims(value: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_export_declares_named_dynamic_axes(exported: Exported) -> None:
    _, config, path, _ = exported
    graph = onnx.load(str(path))
    assert [opset.version for opset in graph.opset_import if opset.domain in ("", "ai.onnx")] == [OPSET]
    (image,) = graph.graph.input
    probabilities, classes, class_scores = graph.graph.output
    # The layout every recognizer shares, whatever the orientation; a length axis left unnamed would
    # keep the traced size and fail here.
    assert (image.name, _dims(image)) == (config.input_name, ["batch", 3, INPUT_HEIGHT, "length"])
    assert (probabilities.name, _dims(probabilities)) == (
        config.output_name,
        ["batch", "sequence", NUM_CLASSES],
    )
    assert [(o.name, _dims(o)) for o in (classes, class_scores)] == [
        (config.classes_output, ["batch", "sequence"]),
        (config.class_scores_output, ["batch", "sequence"]),
    ]
    # One LSTM node, run over the dynamic sequence (not unrolled to the traced length).
    assert [node.op_type for node in graph.graph.node].count("LSTM") == 1
    properties = {p.key: p.value for p in graph.metadata_props}
    assert (properties["architecture"], properties["orientation"]) == (
        config.architecture,
        config.orientation,
    )


@pytest.mark.parametrize(("batch", "length"), [(1, 8), (1, 160), (3, 320), (8, 160), (2, 1000)])
def test_onnxruntime_matches_pytorch(exported: Exported, batch: int, length: int) -> None:
    model, config, _, session = exported
    torch.manual_seed(batch * 10_000 + length)
    x = model.example_input(length, batch)
    with torch.no_grad():
        expected = model(x).numpy()
    (actual,) = session.run([config.output_name], {config.input_name: x.numpy()})
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).max()) <= 1e-4
    np.testing.assert_array_equal(actual.argmax(-1), expected.argmax(-1))
