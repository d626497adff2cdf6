"""Request and response schemas: the contract clients and tests rely on, with examples for ``/docs``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

Point = tuple[float, float]
Language = Literal["ko", "en", "zh"]
# The constraints sit on the string itself: on a union with a hidden None they would be applied to None.
ImageText = Annotated[str, StringConstraints(max_length=40_000_000)]
UrlText = Annotated[str, StringConstraints(max_length=2048)]
BOX_EXAMPLE = [[12.0, 20.0], [220.0, 20.0], [220.0, 52.0], [12.0, 52.0]]


# "Exactly one of" in the JSON schema too, so that clients and fuzzers generated from the OpenAPI
# document send what the validators accept.
ONE_SOURCE: JsonDict = {"oneOf": [{"required": ["image"]}, {"required": ["url"]}]}
ONE_OF_THREE: JsonDict = {"oneOf": [{"required": ["image"]}, {"required": ["url"]}, {"required": ["images"]}]}
IMAGE_EXAMPLE: JsonDict = {"examples": [{"image": "iVBORw0KGgo..."}]}


def exactly_one(model: BaseModel, names: tuple[str, ...]) -> None:
    """Exactly one of ``names`` given, and not as null; what the schema's ``oneOf`` says."""
    given = [name for name in names if name in model.model_fields_set]
    if any(getattr(model, name) is None for name in given):
        raise ValueError(f"{', '.join(repr(n) for n in given)}: give a value, not null")
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(repr(n) for n in names)}")


class ImageSource(BaseModel):
    """One image: base64 bytes (a ``data:`` URL works too) or an http(s) URL, exactly one of them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_SOURCE)
    # Absent, not null: the schema shows a string, and an explicit null is refused (exactly_one).
    image: ImageText | SkipJsonSchema[None] = Field(None, description="base64 image bytes or a data: URL")
    url: UrlText | SkipJsonSchema[None] = Field(None, description="http(s) URL of an image")

    @model_validator(mode="after")
    def one_source(self) -> ImageSource:
        exactly_one(self, ("image", "url"))
        return self


class OcrOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_lang: Language | None = Field(None, description="language of the text; default: the server's")
    mode: Literal["batched", "sequential"] | None = Field(None, description="recognition mode on Triton")


class TranslateOptions(OcrOptions):
    target_lang: str | None = Field(None, description="language to translate into (Papago codes)")
    render: bool = Field(False, description="also return the image re-drawn with the translation")


class TranslateRequest(ImageSource, TranslateOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://example.com/sign.png", "target_lang": "en"}],
            **ONE_SOURCE,
        },
    )


class DetectionOptions(BaseModel):
    """``/detection`` takes no options: the detector reads every script alike."""

    model_config = ConfigDict(extra="forbid")


class DetectionRequest(ImageSource):
    model_config = ConfigDict(extra="forbid", json_schema_extra={**IMAGE_EXAMPLE, **ONE_SOURCE})


class OcrRequest(OcrOptions):
    """One image (``image`` or ``url``) or several (``images``: a list of sources)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={**IMAGE_EXAMPLE, **ONE_OF_THREE})
    image: ImageText | SkipJsonSchema[None] = None
    url: UrlText | SkipJsonSchema[None] = None
    images: Annotated[list[ImageSource], Field(min_length=1)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def sources(self) -> OcrRequest:
        exactly_one(self, ("image", "url", "images"))
        return self


class Colors(BaseModel):
    text: str = Field(..., examples=["#1a1a1a"], pattern=r"^#[0-9a-f]{6}$")
    background: str = Field(..., examples=["#f5f5f0"], pattern=r"^#[0-9a-f]{6}$")


class Line(BaseModel):
    box: list[Point] = Field(
        ..., description="4 corners, clockwise from top-left, original pixels", examples=[BOX_EXAMPLE]
    )
    text: str = Field(..., examples=["안녕하세요"])
    confidence: float = Field(..., ge=0, le=1)
    orientation: Literal["horizontal", "vertical"]
    colors: Colors | None = None
    translation: str | None = None
    translation_error: str | None = None


class Paragraph(BaseModel):
    lines: list[int] = Field(..., description="indices into `lines`, in reading order")
    text: str
    translation: str | None = None
    translation_error: str | None = None


class ImageResult(BaseModel):
    width: int
    height: int
    lines: list[Line]


class OcrResponse(BaseModel):
    lines: list[Line] | None = None
    width: int | None = None
    height: int | None = None
    results: list[ImageResult] | None = Field(None, description="one per image when `images` was given")
    source_lang: str
    mode: str
    timings_ms: dict[str, float]


class TranslateResponse(BaseModel):
    width: int
    height: int
    lines: list[Line]
    paragraphs: list[Paragraph]
    source_lang: str
    target_lang: str
    mode: str
    translator: str = Field(..., description='"papago", or "none" when no translator is configured')
    translation_errors: int = Field(0, description="lines and paragraphs whose translation failed")
    rendered_image: str | None = Field(None, description="base64 PNG, with `render`")
    timings_ms: dict[str, float]


class DetectionBox(BaseModel):
    box: list[Point] = Field(..., examples=[BOX_EXAMPLE])
    score: float
    orientation: Literal["horizontal", "vertical"]


class DetectionResponse(BaseModel):
    width: int
    height: int
    boxes: list[DetectionBox]
    timings_ms: dict[str, float]


class RecognitionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_lang: Language | None = None
    orientation: Literal["auto", "horizontal", "vertical"] = "auto"
    layout: Literal["auto", "line"] = Field(
        "auto",
        description="auto: the detector finds the rows of text in a crop read horizontally (padding, "
        "an emblem, small print beside large letters); line: every crop is one tight line, read whole",
    )


class RecognitionRequest(RecognitionOptions):
    model_config = ConfigDict(extra="forbid")
    crops: list[str] = Field(..., min_length=1, description="base64 images, one text line each")


class Reading(BaseModel):
    text: str
    confidence: float
    orientation: Literal["horizontal", "vertical"]


class RecognitionResponse(BaseModel):
    results: list[Reading]
    source_lang: str
    timings_ms: dict[str, float]


class ErrorResponse(BaseModel):
    error: str = Field(..., examples=["image_too_large"])
    detail: str
