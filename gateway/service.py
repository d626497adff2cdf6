"""What the routes do, apart from HTTP: fetch or decode an image, run it through Triton, measure colours,
group paragraphs, translate and re-draw. Everything CPU-bound runs in a worker thread so the event loop
keeps serving other requests while one image is decoded or measured.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field

import httpx
import numpy as np
from anyio import to_thread

from gateway.colors import LineColors, line_colors
from gateway.inputs import InputError, check_image, decode_base64_image, decode_working_checked
from gateway.layout import join_lines, orientation_of, paragraphs
from gateway.metrics import GatewayMetrics
from gateway.render import RenderLine, encode_png, render_translations
from gateway.schemas import Colors, Line, Paragraph
from gateway.settings import OCR_MODELS, Settings
from gateway.timing import Timings
from gateway.translation import Translation, Translator, UnsupportedLanguageError, resolve_pair
from gateway.triton import BackendError, ModelBackend
from gateway.url_fetch import fetch_image
from ocrstack.config import detector_config, recognizers_for
from ocrstack.pipeline.image_io import WorkingImage
from ocrstack.pipeline.stages import working_side


@dataclass
class Services:
    """The process-wide clients, created in the app's lifespan."""

    settings: Settings
    triton: ModelBackend  # the TritonGateway, or a stand-in in tests
    translator: Translator
    http: httpx.AsyncClient  # for image URLs; follows no redirect by itself (the fetcher vets each hop)
    metrics: GatewayMetrics
    served: set[str] = field(default_factory=set)  # models last seen ready

    async def refresh_served(self) -> set[str]:
        self.served = await self.triton.served_models()
        return self.served

    def source_language(self, requested: str | None) -> str:
        """The request's language, else the configured default when a model reads it, else the fallback."""
        if requested:
            return requested
        default = self.settings.default_source_lang
        try:
            recognizers_for(default, self.served)
            return default
        except KeyError:
            return self.settings.fallback_source_lang

    def ocr_model(self, mode: str | None) -> tuple[str, str]:
        chosen = mode or self.settings.default_mode
        return chosen, OCR_MODELS[chosen]


async def image_bytes(services: Services, image_b64: str | None, url: str | None) -> bytes:
    """The encoded image of a JSON request: base64 (or a data: URL) or fetched from ``url``."""
    limits = services.settings.image_limits()
    if image_b64 is not None:
        return decode_base64_image(image_b64, limits)
    assert url is not None  # the schema requires one of them
    return await fetch_image(url, services.settings.url_fetch(), client=services.http)


# The gateway reads the pixels (colours, re-rendering) at the size the ocr models read them: the models'
# working size, which bounds the memory one image costs whatever its size as sent.
WORKING_SIDE = working_side(detector_config())


@dataclass(frozen=True)
class ReadPage:
    image: WorkingImage  # decoded by the gateway (colours and re-rendering need the pixels)
    lines: list[Line]
    quads: np.ndarray  # in the pixels of the image as sent, as the lines' boxes
    colors: list[LineColors]  # as measured, for re-rendering; the lines carry them as hex

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image as sent."""
        return self.image.width, self.image.height

    @property
    def working_quads(self) -> np.ndarray:
        """The quads on the working pixels."""
        return on_working_pixels(self.quads, self.image)


def on_working_pixels(quads: np.ndarray, image: WorkingImage) -> np.ndarray:
    scale_x, scale_y = image.scale
    if (scale_x, scale_y) == (1.0, 1.0) or not len(quads):
        return quads
    return (np.asarray(quads, np.float32) / np.array([scale_x, scale_y], np.float32)).astype(np.float32)


def _lines(boxes: np.ndarray, texts: list[str], scores: np.ndarray, colors: list[LineColors]) -> list[Line]:
    return [
        Line(
            box=[(float(x), float(y)) for x, y in quad],
            text=text,
            confidence=float(np.clip(score, 0.0, 1.0)),
            orientation=orientation_of(quad),
            colors=Colors(**color.hex()),
        )
        for quad, text, score, color in zip(boxes, texts, scores, colors, strict=True)
    ]


def finish(services: Services, timings: Timings) -> dict[str, float]:
    """The request's stage timings, also recorded in the stage histograms."""
    report = timings.report()
    services.metrics.observe_stages(report)
    return report


async def read_page(services: Services, data: bytes, language: str, model: str, timings: Timings) -> ReadPage:
    """Decode (checked against the limits) while Triton reads the same bytes, then measure colours."""
    limits = services.settings.image_limits()

    async def decode() -> WorkingImage:
        with timings.stage("decode"):
            return await to_thread.run_sync(decode_working_checked, data, WORKING_SIDE)

    # The header checks run first: a bomb or a non-image must not reach Triton at all.
    check_image(data, limits)
    decoding = asyncio.create_task(decode())
    try:
        with timings.stage("ocr"):
            result = await services.triton.ocr(model, data, language)
    except BackendError as error:
        if error.status in (400, 502):
            # Triton failed on the pixels (a truncated JPEG, say): our own decode names the fault the
            # way every other image fault is named (``corrupt_image``) when it fails too.
            await decoding
        else:
            decoding.cancel()
        raise
    except BaseException:
        decoding.cancel()
        raise
    image = await decoding
    with timings.stage("colors"):
        colors = await to_thread.run_sync(line_colors, image.pixels, on_working_pixels(result.boxes, image))
    services.metrics.lines.observe(len(result.texts))
    return ReadPage(image, _lines(result.boxes, result.texts, result.scores, colors), result.boxes, colors)


def check_languages(source: str, target: str) -> None:
    try:
        resolve_pair(source, target)
    except UnsupportedLanguageError as error:
        raise InputError(422, "unsupported_language", str(error)) from None


async def translate_page(
    services: Services, page: ReadPage, source: str, target: str, timings: Timings
) -> tuple[list[Paragraph], int]:
    """Fill each line's translation and build the paragraphs with theirs; returns them and the number of
    failed translations. One translator call per image: lines and paragraph texts together (a paragraph
    of one line is that line's text, translated once)."""
    groups = paragraphs(page.quads, [line.orientation for line in page.lines])
    paragraph_texts = [join_lines([page.lines[i].text for i in group], source) for group in groups]
    texts = [line.text for line in page.lines] + paragraph_texts
    translator = services.translator
    with timings.stage("translation"):
        results: list[Translation] = await translator.translate(texts, source, target) if texts else []
    services.metrics.translations.labels(translator.name).inc(len(texts))
    failed = sum(r.error is not None for r in results)
    services.metrics.translation_errors.labels(translator.name).inc(failed)
    for line, result in zip(page.lines, results, strict=False):
        line.translation, line.translation_error = result.text, result.error
    built = [
        Paragraph(lines=group, text=text, translation=result.text, translation_error=result.error)
        for group, text, result in zip(groups, paragraph_texts, results[len(page.lines) :], strict=True)
    ]
    return built, failed


async def render_page(page: ReadPage, timings: Timings) -> str:
    """The image re-drawn with each line's translation (its own text where none), as base64 PNG."""
    lines = [
        RenderLine(
            quad=quad,  # on the working pixels: the image is re-drawn at the size it was read at
            text=line.translation if line.translation is not None else line.text,
            text_rgb=color.text,
            background_rgb=color.background,
            vertical=line.orientation == "vertical",
        )
        for quad, line, color in zip(page.working_quads, page.lines, page.colors, strict=True)
    ]
    with timings.stage("render"):
        png = await to_thread.run_sync(lambda: encode_png(render_translations(page.image.pixels, lines)))
    return base64.b64encode(png).decode("ascii")
