"""Request and response schemas: the contract clients and tests rely on, with examples for ``/docs``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[float, float]
Language = Literal["ko", "en", "zh"]
BOX_EXAMPLE = [[12.0, 20.0], [220.0, 20.0], [220.0, 52.0], [12.0, 52.0]]


class ImageSource(BaseModel):
    """One image: base64 bytes (a ``data:`` URL works too) or an http(s) URL, exactly one of them."""

    model_config = ConfigDict(extra="forbid")
    image: str | None = Field(None, description="base64 image bytes or a data: URL", max_length=40_000_000)
    url: str | None = Field(None, description="http(s) URL of an image", max_length=2048)

    @model_validator(mode="after")
    def one_source(self) -> ImageSource:
        if (self.image is None) == (self.url is None):
            raise ValueError("give exactly one of 'image' (base64) or 'url'")
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
        json_schema_extra={"examples": [{"url": "https://example.com/sign.png", "target_lang": "en"}]},
    )


class DetectionOptions(BaseModel):
    """``/detection`` takes no options: the detector reads every script alike."""

    model_config = ConfigDict(extra="forbid")


class DetectionRequest(ImageSource):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"image": "iVBORw0KGgo..."}]})


class OcrRequest(OcrOptions):
    """One image (``image`` or ``url``) or several (``images``: a list of sources)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"image": "iVBORw0KGgo..."}]})
    image: str | None = Field(None, max_length=40_000_000)
    url: str | None = Field(None, max_length=2048)
    images: list[ImageSource] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def sources(self) -> OcrRequest:
        given = sum(x is not None for x in (self.image, self.url, self.images))
        if given != 1:
            raise ValueError("give exactly one of 'image', 'url' or 'images'")
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
