"""Hostile numbers and nesting over HTTP are 400s, never 500s; retried starts are idempotent."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from racs import create_racs
from server.conftest import Served, open_ledger, plan_input

START = {"workspaceId": "ws", "agentId": "a", "provider": "anthropic", "model": "m"}


def _deep(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def _start_with(metadata: str) -> str:
    fields = '"workspaceId": "ws", "agentId": "a", "provider": "p", "model": "m"'
    return f'{{{fields}, "metadata": {metadata}}}'


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _usage(field: str, raw_number: str) -> str:
    return (
        '{"provider": "anthropic", "model": "m", "inputTokens": 10, "cacheReadTokens": 0, '
        f'"{field}": {raw_number}}}'
    )


def _two_segments(tokens: str) -> str:
    body = plan_input()
    segments = ", ".join(
        f'{{"id": "{n}", "role": "system", "stability": "stable", "contentHash": "h{n}", '
        f'"tokens": {tokens}}}'
        for n in ("a", "b")
    )
    return f'{{"provider": "{body["provider"]}", "model": "m", "segments": [{segments}]}}'


# (method, path, raw JSON body or None): each made the server answer 500, or stored
# something that broke later reads, before.
HOSTILE: list[tuple[str, str, str | None]] = [
    ("POST", "/usage", _usage("inputTokens", "9" * 309)),
    ("POST", "/usage", _usage("cacheReadTokens", "1.7e308")),
    ("POST", "/usage", _usage("cacheWriteTokens5m", str(2**63))),
    ("POST", "/usage", _usage("timestamp", "1e300")),
    ("POST", "/plan", _two_segments("1" + "0" * 308)),
    ("POST", "/plan", _two_segments("1e308")),
    ("POST", "/lint", _two_segments("9" * 400)),
    ("POST", "/ledger/runs", _start_with(_deep(500))),
    ("POST", "/ledger/runs", _start_with(_deep(40))),
    ("POST", "/ledger/runs/RUN/complete", f'{{"inputTokens": {2**63 - 1}}}'),
    ("POST", "/ledger/runs/RUN/complete", f'{{"costUsd": {"9" * 309}}}'),
    ("POST", "/ledger/runs/RUN/complete", '{"latencyMs": 1e308}'),
    ("POST", "/ledger/runs/RUN/events", f'{{"type": "retry", "payload": {_deep(100)}}}'),
    ("GET", f"/ledger/runs?cursor={_cursor(f'{2**70}:r')}", None),
    ("GET", "/ledger/runs?since=999999999999999999", None),
    ("GET", "/ledger/events?after=999999999999999999", None),
    ("GET", "/ledger/events?after=99999999999999999999999", None),
    ("GET", "/ledger/stats?until=999999999999999999", None),
]


@pytest.fixture
def ledger_server(serve: Callable[..., Served], tmp_path: Path) -> Served:
    """A server with an engine and ledger on one SQLite file."""
    ledger = open_ledger(tmp_path / "ledger.db")
    return serve(engine=create_racs(ledger=ledger), ledger=ledger)


def test_hostile_requests_are_refused(ledger_server: Served, capsys: Any) -> None:
    """Every request of HOSTILE: 400 with a reason, zero server errors; the ledger verifies
    and every listing still reads afterwards."""
    codes: list[int] = []
    with ledger_server.client() as c:
        run_id = c.post("/ledger/runs", json=START).json()["runId"]
        for method, path, body in HOSTILE:
            r = c.request(
                method,
                path.replace("RUN", run_id),
                content=body,
                headers={"Content-Type": "application/json"} if body is not None else {},
            )
            codes.append(r.status_code)
            assert r.status_code == 400, (path, r.status_code, r.text[:200])
            assert r.json()["code"] in ("ERR_INVALID_INPUT", "ERR_INVALID_JSON")
        for path in ("/ledger/runs", "/ledger/events", "/ledger/stats", "/stats"):
            assert c.get(path).status_code == 200
        assert c.get("/ledger/verify").json()["ok"] is True
    with capsys.disabled():
        print(
            f"\nhostile HTTP inputs: {len(codes)} tried, {codes.count(400)} refused (400), "
            f"{sum(code >= 500 for code in codes)} server errors"
        )


class TestIdempotentStart:
    """POST /ledger/runs with an Idempotency-Key header or idempotencyKey field."""

    def test_a_retry_returns_the_same_run(self, ledger_server: Served) -> None:
        """The same key three times: one run, the same body each time."""
        with ledger_server.client() as c:
            answers = [
                c.post("/ledger/runs", json=START, headers={"Idempotency-Key": "req-7"})
                for _ in range(3)
            ]
            assert {r.status_code for r in answers} == {201}
            assert len({r.json()["runId"] for r in answers}) == 1
            assert len(c.get("/ledger/runs").json()["items"]) == 1
            body = c.post("/ledger/runs", json={**START, "idempotencyKey": "req-7"})
            assert body.json()["runId"] == answers[0].json()["runId"]

    def test_a_key_reused_for_another_run_is_a_conflict(self, ledger_server: Served) -> None:
        """Same key, another model: 409, nothing started."""
        with ledger_server.client() as c:
            c.post("/ledger/runs", json=START, headers={"Idempotency-Key": "k"})
            r = c.post(
                "/ledger/runs", json={**START, "model": "other"}, headers={"Idempotency-Key": "k"}
            )
            assert r.status_code == 409
            assert len(c.get("/ledger/runs").json()["items"]) == 1

    def test_header_and_field_must_agree(self, ledger_server: Served) -> None:
        """Two different keys in one request: 400."""
        with ledger_server.client() as c:
            r = c.post(
                "/ledger/runs",
                json={**START, "idempotencyKey": "a"},
                headers={"Idempotency-Key": "b"},
            )
            assert r.status_code == 400
            assert c.get("/ledger/runs").json()["items"] == []
