"""The Papago-compatible server: its pure parts in process, then real uvicorn processes on loopback, talked
to over HTTP directly and through PapagoTranslator."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.papago_server import (
    ENV_PREFIX,
    TRANSLATION_PATH,
    FakePapagoConfig,
    fake_translation,
    parse_args,
    validate_request,
)
from gateway.translation import PapagoSettings, PapagoTranslator, Translation
from gateway.translation.papago import KEY_HEADER, KEY_ID_HEADER
from ocrstack.serving.launcher.server import free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_KEY_ID = f"fake-id-{secrets.token_hex(4)}"
SERVER_KEY = f"fake-key-{secrets.token_hex(8)}"
QUOTA_CHARS = 12


# --- in process -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "source", "target", "expected"),
    [
        ("안녕하세요", "ko", "en", "Hello"),
        ("  hello ", "en", "ko", "안녕하세요"),
        ("EXIT", "en", "zh-CN", "出口"),
        ("谢谢", "zh-CN", "ko", "감사합니다"),
        ("버스  정류장", "ko", "en", "Bus stop"),
        ("모르는 문장", "ko", "en", "[en] 모르는 문장"),
        ("출구", "ko", "ja", "[ja] 출구"),
    ],
)
def test_fake_translation(text: str, source: str, target: str, expected: str) -> None:
    assert fake_translation(text, source, target) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"target": "en", "text": "x"}, "N2MT01"),
        ({"source": "zh", "target": "en", "text": "x"}, "N2MT02"),  # Papago itself wants zh-CN
        ({"source": "ko", "text": "x"}, "N2MT03"),
        ({"source": "ko", "target": "xx", "text": "x"}, "N2MT04"),
        ({"source": "ko", "target": "ko", "text": "x"}, "N2MT05"),
        ({"source": "vi", "target": "th", "text": "x"}, "N2MT06"),
        ({"source": "ko", "target": "en", "text": "  "}, "N2MT07"),
        ({"source": "ko", "target": "en", "text": "가" * 5001}, "N2MT08"),
    ],
)
def test_validate_request_rejects_like_papago(body: dict[str, object], code: str) -> None:
    response = validate_request(body)
    assert not isinstance(response, tuple) and response.status_code == 400
    assert f'"errorCode":"{code}"' in bytes(response.body).decode()


def test_validate_request_accepts() -> None:
    assert validate_request({"source": "ko", "target": "zh-TW", "text": "가" * 5000}) == (
        "ko",
        "zh-TW",
        "가" * 5000,
    )


def test_config_from_env_and_flags() -> None:
    environ = {ENV_PREFIX + "LATENCY_MS": "12.5", ENV_PREFIX + "QUOTA_CHARS": "99", ENV_PREFIX + "KEY": "k"}
    assert FakePapagoConfig.from_env(environ) == FakePapagoConfig(key="k", latency_ms=12.5, quota_chars=99)
    args, config = parse_args(["--port", "9999", "--quota-chars", "7", "--error-rate", "0.5"], environ)
    assert args.port == 9999
    assert (config.quota_chars, config.error_rate, config.latency_ms, config.key) == (7, 0.5, 12.5, "k")
    with pytest.raises(ValueError, match="error_rate"):
        FakePapagoConfig(error_rate=1.5)


# --- real processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeServer:
    url: str

    @property
    def endpoint(self) -> str:
        return self.url + TRANSLATION_PATH

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/stats", timeout=5)
        response.raise_for_status()
        return dict(response.json())


def _start(port: int, flags: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "devtools.papago_server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--key-id", SERVER_KEY_ID, "--key", SERVER_KEY, *flags]
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )


def _wait_until_up(server: FakeServer, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fake Papago exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            server.stats()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"fake Papago not up within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FakeServer]]:
    """Three servers started together (start-up dominates): plain, always failing, and one with a small
    quota set through its environment variable."""
    workdir = tmp_path_factory.mktemp("fake_papago")
    setups: dict[str, tuple[list[str], dict[str, str]]] = {
        "plain": (["--latency-ms", "2", "--jitter-ms", "3"], {}),
        "failing": (["--error-rate", "1.0"], {}),
        "quota": ([], {ENV_PREFIX + "QUOTA_CHARS": str(QUOTA_CHARS)}),
    }
    ports = free_ports(len(setups))
    started = {}
    try:
        for (name, (flags, env)), port in zip(setups.items(), ports, strict=True):
            started[name] = (FakeServer(f"http://127.0.0.1:{port}"), _start(port, flags, env, workdir / name))
        for name, (server, process) in started.items():
            _wait_until_up(server, process, workdir / name, timeout_s=30)
        yield {name: server for name, (server, _) in started.items()}
    finally:
        for _, process in started.values():
            process.terminate()
        for _, process in started.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _translate(
    endpoint: str, texts: list[str], source: str, target: str, key: str = SERVER_KEY, **overrides: Any
) -> list[Translation]:
    options: dict[str, Any] = {"max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05} | overrides
    settings = PapagoSettings(SERVER_KEY_ID, key, endpoint=endpoint, **options)

    async def run() -> list[Translation]:
        async with PapagoTranslator(settings) as translator:
            return await translator.translate(texts, source, target)

    return asyncio.run(run())


def test_translates_through_the_real_server(servers: dict[str, FakeServer]) -> None:
    server = servers["plain"]
    before = server.stats()
    texts = ["안녕하세요", "출구", "처음 보는 문장", "  ", "출구"]
    results = _translate(server.endpoint, texts, "ko", "en")
    assert [r.text for r in results] == ["Hello", "Exit", "[en] 처음 보는 문장", "  ", "Exit"]
    assert all(r.error is None for r in results)
    assert _translate(server.endpoint, ["Thank you"], "en", "zh") == [Translation("谢谢", None)]
    after = server.stats()
    assert after["requests"] - before["requests"] == 4  # blank and repeated texts made no request
    assert after["characters"] - before["characters"] == len("안녕하세요출구처음 보는 문장Thank you")


def test_wrong_key_is_a_per_item_error(
    servers: dict[str, FakeServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = servers["plain"]
    before = server.stats()
    wrong_key = f"wrong-{secrets.token_hex(8)}"
    results = _translate(server.endpoint, ["출구", "입구"], "ko", "en", key=wrong_key)
    expected = "papago 200: Authentication Failed: Invalid authentication information. (HTTP 401)"
    assert results == [Translation(None, expected)] * 2
    assert server.stats()["statuses"].get("401", 0) - before["statuses"].get("401", 0) == 2  # not retried
    assert wrong_key not in caplog.text and SERVER_KEY_ID not in caplog.text


def test_failing_server_gives_per_item_errors_after_retries(servers: dict[str, FakeServer]) -> None:
    server = servers["failing"]
    before = server.stats()["requests"]
    results = _translate(server.endpoint, ["출구"], "ko", "en", max_attempts=3)
    assert results == [
        Translation(None, "papago N2MT99: Internal server errors (HTTP 500) (gave up after 3 attempts)")
    ]
    assert server.stats()["requests"] - before == 3


def test_quota_exhaustion_gives_per_item_errors(servers: dict[str, FakeServer]) -> None:
    server = servers["quota"]
    assert _translate(server.endpoint, ["안녕하세요", "감사합니다"], "ko", "en") == [
        Translation("Hello", None),
        Translation("Thank you", None),
    ]
    started = time.monotonic()
    results = _translate(server.endpoint, ["출구입니다", "입구입니다"], "ko", "en", deadline_s=5.0)
    assert time.monotonic() - started < 3  # Retry-After (60 s) is past the deadline: no waiting
    for result in results:
        assert result.text is None and result.error is not None
        assert result.error.startswith("papago 400: Quota Exceeded")
        assert "would pass the 5 s deadline" in result.error
    stats = server.stats()
    assert stats["quota_left"] == QUOTA_CHARS - 10 and stats["statuses"]["429"] == 2


def test_protocol_details(servers: dict[str, FakeServer]) -> None:
    server = servers["plain"]
    keys = {KEY_ID_HEADER: SERVER_KEY_ID, KEY_HEADER: SERVER_KEY}
    with httpx.Client(timeout=5) as client:
        missing = client.post(server.endpoint, json={"source": "ko", "target": "en", "text": "출구"})
        assert missing.status_code == 401 and missing.json()["error"]["errorCode"] == "200"

        form = client.post(
            server.endpoint, data={"source": "en", "target": "ko", "text": "exit"}, headers=keys
        )
        assert form.status_code == 200
        assert form.json()["message"]["result"] == {
            "srcLangType": "en",
            "tarLangType": "ko",
            "translatedText": "출구",
        }
        assert form.headers["Server-Timing"].startswith("total;dur=")

        too_long = client.post(
            server.endpoint, json={"source": "ko", "target": "en", "text": "가" * 5001}, headers=keys
        )
        assert too_long.status_code == 400 and too_long.json()["errorCode"] == "N2MT08"

        not_json = client.post(server.endpoint, content=b"{", headers=keys)
        assert not_json.status_code == 400 and not_json.json()["error"]["errorCode"] == "100"

    stats = server.stats()
    assert {"requests", "characters", "statuses", "quota_chars", "quota_left"} <= stats.keys()
    assert stats["quota_chars"] is None
