"""Gateway settings from the environment (prefix ``OCRSTACK_``), read once behind :func:`get_settings`.

Secrets (the Papago key, API keys) are ``SecretStr``: they print as ``**********`` in logs and reprs.
Tests override :func:`get_settings` through FastAPI's dependency overrides or build :class:`Settings`
directly and hand it to :func:`gateway.app.create_app`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.admission import RouteLimit
from gateway.inputs import ImageLimits
from gateway.translation import DEFAULT_ENDPOINT, PapagoSettings
from gateway.url_fetch import UrlFetchSettings

Mode = Literal["batched", "sequential"]
_LIMITS = ImageLimits()  # the defaults are stated once, in ImageLimits
# The Triton ensemble behind each mode; same contract, recognition batched or one crop at a time.
OCR_MODELS: dict[str, str] = {"batched": "ocr", "sequential": "ocr_sequential"}
DETECTION_MODEL = "detection"
RECOGNITION_MODEL = "recognize_crops"
ADMITTED_ROUTES = ("/translate_image", "/ocr", "/detection", "/recognition")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCRSTACK_", env_file=None, extra="ignore")

    # Triton (gRPC). Every call carries a deadline; an unreachable server answers 503 with Retry-After.
    triton_url: str = "127.0.0.1:8001"
    triton_timeout_s: float = Field(30.0, gt=0)
    triton_retry_after_s: int = Field(5, ge=1)
    default_mode: Mode = "batched"
    # Used when a request names no source language: Korean when a Korean recognizer is served.
    default_source_lang: str = "ko"
    fallback_source_lang: str = "en"
    default_target_lang: str = "en"

    # Inputs.
    max_body_bytes: int = Field(25 * 1024 * 1024, gt=0)
    max_image_bytes: int = Field(_LIMITS.max_bytes, gt=0)
    max_image_pixels: int = Field(_LIMITS.max_pixels, gt=0)
    max_image_side: int = Field(_LIMITS.max_side, gt=0)
    max_image_decoded_bytes: int = Field(_LIMITS.max_decoded_bytes, gt=0)
    max_images_per_call: int = Field(8, ge=1)
    max_crops_per_call: int = Field(256, ge=1)
    url_fetch_timeout_s: float = Field(10.0, gt=0)
    url_fetch_allow_private: bool = False
    api_keys: list[SecretStr] = Field(default_factory=list)  # X-API-Key values; empty: no key needed

    # Admission control, per route (each of ADMITTED_ROUTES has its own): requests running and waiting;
    # beyond both, 503 + Retry-After at once. The defaults let 16 clients on one route pass with no error.
    # ``admission_routes`` overrides a route's pair (in flight, queued), e.g.
    # OCRSTACK_ADMISSION_ROUTES='{"/translate_image": [2, 14]}'.
    admission_in_flight: int = Field(4, ge=1)
    admission_queued: int = Field(28, ge=0)
    admission_routes: dict[str, tuple[int, int]] = Field(default_factory=dict)
    # Covers the whole route, queueing included; above the Triton deadline so that one slow call is
    # answered 504 by the Triton client first, with its own message.
    request_deadline_s: float = Field(60.0, gt=0)
    overload_retry_after_s: int = Field(2, ge=1)

    # Translation.
    translator: Literal["auto", "papago", "none"] = "auto"
    papago_key_id: SecretStr | None = None
    papago_key: SecretStr | None = None
    papago_endpoint: str = DEFAULT_ENDPOINT
    papago_timeout_s: float = Field(10.0, gt=0)
    papago_max_concurrency: int = Field(8, ge=1)
    papago_cache_size: int = Field(4096, ge=0)

    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
            max_side=self.max_image_side,
            max_decoded_bytes=self.max_image_decoded_bytes,
        )

    def admission_limits(self) -> dict[str, RouteLimit]:
        unknown = set(self.admission_routes) - set(ADMITTED_ROUTES)
        if unknown:
            raise ValueError(f"admission_routes names routes without admission control: {sorted(unknown)}")
        default = (self.admission_in_flight, self.admission_queued)
        return {path: RouteLimit(*self.admission_routes.get(path, default)) for path in ADMITTED_ROUTES}

    def url_fetch(self) -> UrlFetchSettings:
        return UrlFetchSettings(
            max_bytes=self.max_image_bytes,
            total_timeout_s=self.url_fetch_timeout_s,
            allow_private=self.url_fetch_allow_private,
        )

    def papago(self) -> PapagoSettings:
        return PapagoSettings(
            key_id=self.papago_key_id.get_secret_value() if self.papago_key_id else "",
            key=self.papago_key.get_secret_value() if self.papago_key else "",
            endpoint=self.papago_endpoint,
            timeout_s=self.papago_timeout_s,
            max_concurrency=self.papago_max_concurrency,
            cache_size=self.papago_cache_size,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
