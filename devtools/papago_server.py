"""A stand-in for Papago NMT that speaks its API at ``POST /nmt/v1/translation``: for tests, local runs
without credentials, and load tests that must not spend a real quota.

Translations are predictable: a small built-in glossary, else the text marked with the target language
(``[en] 원문``). Latency, a failure rate, a character quota and the expected keys are knobs, given to
``create_app``, as command-line flags, or as ``OCRSTACK_FAKE_PAPAGO_*`` environment variables::

    python -m devtools.papago_server --host 127.0.0.1 --port 8090 \\
        [--latency-ms 50] [--jitter-ms 20] [--error-rate 0.01] [--quota-chars 100000]

``GET /stats`` reports the requests and characters served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.translation.base import PAPAGO_LANGUAGES, is_supported_pair
from gateway.translation.papago import KEY_HEADER, KEY_ID_HEADER, MAX_CHARS

TRANSLATION_PATH = "/nmt/v1/translation"
ENV_PREFIX = "OCRSTACK_FAKE_PAPAGO_"

# Signs, greetings and everyday words, the kind of text OCR finds in photos. Columns: ko, en, zh-CN.
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    ("안녕하세요", "Hello", "你好"),
    ("감사합니다", "Thank you", "谢谢"),
    ("죄송합니다", "Sorry", "对不起"),
    ("안녕히 가세요", "Goodbye", "再见"),
    ("만나서 반갑습니다", "Nice to meet you", "很高兴见到你"),
    ("사랑해요", "I love you", "我爱你"),
    ("네", "Yes", "是"),
    ("아니요", "No", "不是"),
    ("출구", "Exit", "出口"),
    ("입구", "Entrance", "入口"),
    ("비상구", "Emergency exit", "紧急出口"),
    ("화장실", "Restroom", "洗手间"),
    ("계단", "Stairs", "楼梯"),
    ("엘리베이터", "Elevator", "电梯"),
    ("주차장", "Parking lot", "停车场"),
    ("지하철", "Subway", "地铁"),
    ("버스 정류장", "Bus stop", "公交车站"),
    ("공항", "Airport", "机场"),
    ("서울역", "Seoul Station", "首尔站"),
    ("병원", "Hospital", "医院"),
    ("약국", "Pharmacy", "药店"),
    ("은행", "Bank", "银行"),
    ("호텔", "Hotel", "酒店"),
    ("도서관", "Library", "图书馆"),
    ("학교", "School", "学校"),
    ("식당", "Restaurant", "餐厅"),
    ("메뉴", "Menu", "菜单"),
    ("커피", "Coffee", "咖啡"),
    ("물", "Water", "水"),
    ("가격", "Price", "价格"),
    ("할인", "Discount", "折扣"),
    ("무료", "Free", "免费"),
    ("영업 중", "Open", "营业中"),
    ("영업 종료", "Closed", "停止营业"),
    ("금연", "No smoking", "禁止吸烟"),
    ("당기세요", "Pull", "拉"),
    ("미세요", "Push", "推"),
    ("위험", "Danger", "危险"),
    ("주의", "Caution", "注意"),
    ("정지", "Stop", "停"),
    ("좌회전", "Turn left", "左转"),
    ("우회전", "Turn right", "右转"),
    ("안내소", "Information desk", "问讯处"),
    ("오늘", "Today", "今天"),
    ("내일", "Tomorrow", "明天"),
)
_GLOSSARY_LANGUAGES = ("ko", "en", "zh-CN")


def _lookup_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _glossary_index() -> dict[str, dict[str, tuple[str, str, str]]]:
    """language -> normalised phrase -> glossary row."""
    index: dict[str, dict[str, tuple[str, str, str]]] = {language: {} for language in _GLOSSARY_LANGUAGES}
    for row in GLOSSARY:
        for language, phrase in zip(_GLOSSARY_LANGUAGES, row, strict=True):
            index[language][_lookup_key(phrase)] = row
    return index


_INDEX = _glossary_index()


def fake_translation(text: str, source: str, target: str) -> str:
    """The glossary's entry for the whole of ``text`` (case and spacing ignored), else ``[target] text``."""
    row = _INDEX.get(source, {}).get(_lookup_key(text))
    if row is not None and target in _GLOSSARY_LANGUAGES:
        return row[_GLOSSARY_LANGUAGES.index(target)]
    return f"[{target}] {text.strip()}"


# The credentials it expects unless told others: not secrets, only what local runs and tests send.
DEFAULT_KEY_ID = "fake-key-id"
DEFAULT_KEY = "fake-key"


@dataclass(frozen=True)
class FakePapagoConfig:
    """The server's knobs. ``quota_chars`` ``None`` means no quota."""

    key_id: str = DEFAULT_KEY_ID
    key: str = DEFAULT_KEY
    latency_ms: float = 0.0  # added to every request
    jitter_ms: float = 0.0  # uniform extra latency in [0, jitter_ms]
    error_rate: float = 0.0  # fraction of requests answered 500
    quota_chars: int | None = None  # characters translated before every request gets 429
    retry_after_s: int = 60  # Retry-After sent with 429
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.retry_after_s < 0:
            raise ValueError("latency_ms, jitter_ms and retry_after_s must be >= 0")
        if self.quota_chars is not None and self.quota_chars < 0:
            raise ValueError(f"quota_chars must be >= 0, got {self.quota_chars}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FakePapagoConfig:
        """The defaults overridden by ``OCRSTACK_FAKE_PAPAGO_<FIELD>`` variables (``..._LATENCY_MS``)."""
        values: dict[str, object] = {}
        for item in fields(cls):
            raw = environ.get(ENV_PREFIX + item.name.upper())
            if raw is None or raw == "":
                continue
            default = getattr(cls, item.name)
            if item.name == "quota_chars" or isinstance(default, int):
                values[item.name] = int(raw)
            elif isinstance(default, float):
                values[item.name] = float(raw)
            else:
                values[item.name] = raw
        return cls(**values)  # type: ignore[arg-type]


def _ncp_error(status: int, code: str, message: str, details: str) -> JSONResponse:
    """The API gateway's error shape (authentication, quota, malformed requests)."""
    body = {"error": {"errorCode": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status)


def _papago_error(status: int, code: str, message: str) -> JSONResponse:
    """Papago's own error shape (parameters, internal errors)."""
    return JSONResponse({"errorCode": code, "errorMessage": message}, status_code=status)


def validate_request(body: Mapping[str, object]) -> tuple[str, str, str] | JSONResponse:
    """``(source, target, text)`` from a request body, or the 400 Papago answers for it."""
    source, target, text = body.get("source"), body.get("target"), body.get("text")
    if not isinstance(source, str) or not source:
        return _papago_error(400, "N2MT01", "source parameter is needed")
    if source not in PAPAGO_LANGUAGES:
        return _papago_error(400, "N2MT02", f"unsupported source language: {source}")
    if not isinstance(target, str) or not target:
        return _papago_error(400, "N2MT03", "target parameter is needed")
    if target not in PAPAGO_LANGUAGES:
        return _papago_error(400, "N2MT04", f"unsupported target language: {target}")
    if source == target:
        return _papago_error(400, "N2MT05", "source and target must be different")
    if not is_supported_pair(source, target):
        return _papago_error(400, "N2MT06", f"{source}->{target} is not a supported translation")
    if not isinstance(text, str) or not text.strip():
        return _papago_error(400, "N2MT07", "text parameter is needed")
    if len(text) > MAX_CHARS:
        return _papago_error(400, "N2MT08", f"text is longer than {MAX_CHARS} characters ({len(text)})")
    return source, target, text


async def _read_body(request: Request) -> dict[str, object] | None:
    """The request's fields from JSON or a form (Papago takes both); ``None`` when unreadable."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {name: values[-1] for name, values in parse_qs(raw.decode("utf-8", "replace")).items()}
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class FakePapago:
    """One server's state: its knobs, its seeded random draws and what it has served."""

    def __init__(self, config: FakePapagoConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self.requests = 0
        self.characters = 0
        self.statuses: Counter[int] = Counter()

    async def translate(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        self.requests += 1
        await self._wait()
        response = await self._answer(request)
        self.statuses[response.status_code] += 1
        response.headers["Server-Timing"] = f"total;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    async def stats(self, request: Request) -> JSONResponse:
        quota = self.config.quota_chars
        return JSONResponse(
            {
                "requests": self.requests,
                "characters": self.characters,
                "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
                "quota_chars": quota,
                "quota_left": None if quota is None else max(0, quota - self.characters),
            }
        )

    async def _wait(self) -> None:
        delay_ms = self.config.latency_ms + self._rng.uniform(0.0, self.config.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    async def _answer(self, request: Request) -> JSONResponse:
        if (
            request.headers.get(KEY_ID_HEADER) != self.config.key_id
            or request.headers.get(KEY_HEADER) != self.config.key
        ):
            return _ncp_error(401, "200", "Authentication Failed", "Invalid authentication information.")
        if self.config.error_rate > 0 and self._rng.random() < self.config.error_rate:
            return _papago_error(500, "N2MT99", "Internal server errors")
        body = await _read_body(request)
        if body is None:
            return _ncp_error(400, "100", "Bad Request Exception", "The body is not a JSON object.")
        parsed = validate_request(body)
        if isinstance(parsed, JSONResponse):
            return parsed
        source, target, text = parsed
        quota = self.config.quota_chars
        if quota is not None and self.characters + len(text) > quota:
            response = _ncp_error(429, "400", "Quota Exceeded", f"The quota of {quota} characters is spent.")
            response.headers["Retry-After"] = str(self.config.retry_after_s)
            return response
        self.characters += len(text)
        result = {
            "srcLangType": source,
            "tarLangType": target,
            "translatedText": fake_translation(text, source, target),
        }
        return JSONResponse({"message": {"@type": "response", "result": result}})


def create_app(config: FakePapagoConfig | None = None) -> Starlette:
    """The ASGI app; its ``FakePapago`` is ``app.state.fake``."""
    fake = FakePapago(config or FakePapagoConfig())
    app = Starlette(
        routes=[
            Route(TRANSLATION_PATH, fake.translate, methods=["POST"]),
            Route("/stats", fake.stats, methods=["GET"]),
        ]
    )
    app.state.fake = fake
    return app


def parse_args(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[argparse.Namespace, FakePapagoConfig]:
    """Command-line flags over environment variables over defaults."""
    defaults = FakePapagoConfig.from_env(environ)
    parser = argparse.ArgumentParser(
        description="A Papago NMT stand-in for tests and load tests. Every knob also reads "
        f"{ENV_PREFIX}<NAME> (e.g. {ENV_PREFIX}LATENCY_MS); flags win."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--key-id", default=defaults.key_id, help="expected X-NCP-APIGW-API-KEY-ID")
    parser.add_argument("--key", default=defaults.key, help="expected X-NCP-APIGW-API-KEY")
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms, help="per request")
    parser.add_argument("--jitter-ms", type=float, default=defaults.jitter_ms, help="uniform extra latency")
    parser.add_argument(
        "--error-rate", type=float, default=defaults.error_rate, help="fraction of requests answered 500"
    )
    parser.add_argument(
        "--quota-chars", type=int, default=defaults.quota_chars, help="characters served before 429s"
    )
    parser.add_argument("--retry-after-s", type=int, default=defaults.retry_after_s, help="sent with 429")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="for latency and error draws")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = FakePapagoConfig(
        key_id=args.key_id,
        key=args.key,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate=args.error_rate,
        quota_chars=args.quota_chars,
        retry_after_s=args.retry_after_s,
        seed=args.seed,
    )
    return args, config


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    args, config = parse_args(argv, os.environ)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
