"""FastAPI dependencies: the process's services and the optional API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.inputs import InputError
from gateway.service import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(
    services: ServicesDep, x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None
) -> None:
    """With ``OCRSTACK_API_KEYS`` set, every API call needs one of them in ``X-API-Key``."""
    keys = services.settings.api_keys
    if not keys:
        return
    # compare_digest on every key: the time taken does not tell how much of a guess was right.
    given = (x_api_key or "").encode()
    if not any(hmac.compare_digest(given, key.get_secret_value().encode()) for key in keys):
        raise InputError(401, "unauthorized", "a valid X-API-Key header is required")
