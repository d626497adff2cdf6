"""``GET /``: the page for trying the service in a browser, and its files under ``/web``.

Plain HTML, CSS and JavaScript from ``gateway/web``, with no build step and nothing loaded from another
host, so the page works offline. The page itself needs no API key; the calls it makes do, when the
gateway asks for one (the page has a field for it).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

# The page runs only its own script and style; images come from the upload (blob:), the re-drawn result
# (data:) or the URL a person typed (http:, https:), and calls go to this gateway only.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data: http: https:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def static_files() -> StaticFiles:
    """The page's script and style sheet, mounted at ``/web``."""
    return StaticFiles(directory=WEB_DIR)
