"""Property-based requests generated from the gateway's own OpenAPI schema: none may get a 5xx.

Every operation is called against the live gateway (real Triton and Papago-compatible server behind it);
generated bodies are mostly not images, so this exercises validation, decoding and error mapping.
Hypothesis drives schemathesis's strategies directly: its pytest plugin does not run under this pytest.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 25


def readable_operations(schema: Any) -> list:
    """Every operation of a schemathesis schema; one it cannot read fails the test with its error."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def operations(url: str) -> list:
    return readable_operations(schemathesis.openapi.from_url(url + "/openapi.json"))


def test_no_request_gets_a_server_error(gateway_url: str) -> None:
    checked = []
    for operation in operations(gateway_url):

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=60)

        call()
        checked.append(operation.label)
    assert any("/translate_image" in label for label in checked), checked
