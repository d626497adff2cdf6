"""Reproduce the eight findings of issue 20 against a running gateway and say, for each, whether it holds.

    python -m devtools.stack &                                   # or make run
    python -m scripts.hardening_check --url http://127.0.0.1:8080
    python -m scripts.hardening_check --url ... --triton-pid PID  # also finding 2: kills that Triton

Finding 2 (Triton dies) needs ``--triton-pid``: the script kills that process (only that one) and waits
for the gateway to answer /readyz and an /ocr request again, without any manual step. Finding 6 sends a
burst of ``--burst`` concurrent requests and expects every answer to be a 200 or a 503 with Retry-After.
Exit status 0 when every finding checked holds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import struct
import sys
import time
import zlib
from collections.abc import Callable

import cv2
import httpx
import numpy as np

Check = Callable[[str, argparse.Namespace], str | None]  # None: holds; else what went wrong


def png_with_header(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def sign(encoding: str = ".png") -> bytes:
    image = np.full((120, 480, 3), 245, np.uint8)
    cv2.putText(image, "Emergency exit", (16, 76), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (30, 30, 120), 3)
    return cv2.imencode(encoding, image)[1].tobytes()


def expect(response: httpx.Response, status: int, kind: str | None = None) -> str | None:
    if response.status_code != status:
        return f"{response.request.url.path}: {response.status_code} {response.text[:200]}, expected {status}"
    if kind is not None and response.json().get("error") != kind:
        return f"{response.request.url.path}: error {response.json().get('error')!r}, expected {kind!r}"
    return None


def first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


def finding_1(url: str, _: argparse.Namespace) -> str | None:
    """A 16-bit RGBA PNG inside the pixel limit is refused by its decoded size, from the header."""
    bomb = png_with_header(6320, 6320, 16, 6)
    response = httpx.post(f"{url}/ocr", content=bomb, headers={"content-type": "image/png"}, timeout=30)
    return expect(response, 413, "image_too_large")


def finding_3(url: str, _: argparse.Namespace) -> str | None:
    nested = b"[" * 50_000 + b"]" * 50_000
    headers = {"content-type": "application/json"}
    return first(
        *(
            expect(
                httpx.post(f"{url}{route}", content=nested, headers=headers, timeout=30), 400, "invalid_json"
            )
            for route in ("/translate_image", "/ocr", "/detection", "/recognition")
        )
    )


def finding_4(url: str, args: argparse.Namespace) -> str | None:
    def chunks():
        for _ in range(args.body_limit_mb * 64 + 64):
            yield b"A" * 16_384

    problems = []
    for route, kind in (("/ocr", "image/png"), ("/recognition", "application/json")):
        response = httpx.post(f"{url}{route}", content=chunks(), headers={"content-type": kind}, timeout=60)
        problems.append(expect(response, 413, "body_too_large"))
    return first(*problems)


def finding_5(url: str, _: argparse.Namespace) -> str | None:
    whole = sign(".jpg")
    truncated = whole[: len(whole) * 2 // 3]
    response = httpx.post(f"{url}/ocr", content=truncated, headers={"content-type": "image/jpeg"}, timeout=60)
    return expect(response, 400, "corrupt_image")


def finding_6(url: str, args: argparse.Namespace) -> str | None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            data, headers = sign(), {"content-type": "image/png"}
            jobs = [client.post(f"{url}/ocr", content=data, headers=headers) for _ in range(args.burst)]
            return list(await asyncio.gather(*jobs))

    began = time.monotonic()
    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    print(
        f"    burst of {args.burst}: {statuses.count(200)} answered, {statuses.count(503)} shed, "
        f"{time.monotonic() - began:.1f} s"
    )
    for response in responses:
        if response.status_code == 503 and "retry-after" not in response.headers:
            return "a 503 without Retry-After"
        if response.status_code not in (200, 503):
            return f"{response.status_code} {response.text[:200]}"
    return None


def finding_7(url: str, _: argparse.Namespace) -> str | None:
    image = base64.b64encode(sign()).decode()
    crop = {"file": ("crop.png", sign(), "image/png")}
    return first(
        expect(httpx.post(f"{url}/ocr", json={"image": image, "target_lang": "ko"}, timeout=60), 422),
        expect(httpx.post(f"{url}/detection", json={"image": image, "render": True}, timeout=60), 422),
        expect(httpx.post(f"{url}/ocr", json={"images": []}, timeout=60), 422),
        expect(
            httpx.post(
                f"{url}/recognition",
                content=f'{{"crops": ["{image}"]}}'.encode(),
                headers={"content-type": "text/plain"},
                timeout=60,
            ),
            415,
        ),
        expect(httpx.post(f"{url}/recognition", files=crop, data={"source_lang": "en"}, timeout=60), 200),
    )


def finding_8(url: str, _: argparse.Namespace) -> str | None:
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    schemas = document.get("components", {}).get("schemas", {})
    missing = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in schemas:
                missing.add(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return f"unresolved references: {sorted(missing)}" if missing else None


def finding_2(url: str, args: argparse.Namespace) -> str | None:
    if args.triton_pid is None:
        return None
    os.kill(args.triton_pid, signal.SIGKILL)
    killed = time.monotonic()
    while time.monotonic() - killed < args.recovery_s:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5).status_code == 200
            if (
                ready
                and httpx.post(
                    f"{url}/ocr", content=sign(), headers={"content-type": "image/png"}, timeout=60
                ).status_code
                == 200
            ):
                print(f"    answering again {time.monotonic() - killed:.1f} s after the kill")
                return None
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return f"not answering {args.recovery_s} s after Triton was killed"


FINDINGS: dict[str, Check] = {
    "1 memory bounded by decoded size": finding_1,
    "3 deeply nested JSON": finding_3,
    "4 chunked body over the limit": finding_4,
    "5 truncated JPEG is corrupt_image": finding_5,
    "7 validation": finding_7,
    "8 OpenAPI references": finding_8,
    "6 admission control": finding_6,
    "2 Triton restarted": finding_2,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--burst", type=int, default=64, help="concurrent /ocr requests for finding 6")
    parser.add_argument("--body-limit-mb", type=int, default=25, help="the gateway's OCRSTACK_MAX_BODY_BYTES")
    parser.add_argument("--triton-pid", type=int, help="kill this Triton for finding 2 (else skipped)")
    parser.add_argument("--recovery-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    failed = 0
    for name, check in FINDINGS.items():
        if name.startswith("2") and args.triton_pid is None:
            print(f"skip  {name} (no --triton-pid)")
            continue
        problem = check(args.url.rstrip("/"), args)
        failed += problem is not None
        print(f"{'FAIL' if problem else 'ok  '}  {name}" + (f": {problem}" if problem else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
