"""Property-based API test driven by the published OpenAPI document (schemathesis).

Every documented operation gets generated positive and negative requests against a live
server; no response may be a 5xx, and every response must match the document (status,
content type, body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from racs.server import openapi_document

from .conftest import Served, open_ledger, start_server

schema = schemathesis.openapi.from_dict(openapi_document())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the whole module, with a SQLite ledger when racs.ledger has one."""
    ledger_path: Path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    served, stop = start_server(ledger=open_ledger(ledger_path))
    yield served
    stop()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case: schemathesis.Case, live: Served) -> None:
    """Generated requests never get a 5xx and every response conforms to the document."""
    case.call_and_validate(base_url=live.url, checks=CHECKS)
