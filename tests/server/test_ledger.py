"""The /ledger endpoints over a real socket, against a real SQLite ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from racs import create_racs
from racs.server import openapi_document
from server.conftest import Served, open_ledger, plan_input

START = {
    "workspaceId": "ws-1",
    "agentId": "agent-a",
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "authType": "consumer",
    "executionMode": "background",
    "metadata": {"someKey": 1},
}


@pytest.fixture
def ledger_server(serve: Callable[..., Served], tmp_path: Path) -> Served:
    """A server whose engine records into a SQLite ledger that the server also exposes."""
    ledger = open_ledger(tmp_path / "ledger.db")
    return serve(engine=create_racs(ledger=ledger), ledger=ledger)


class TestRuns:
    def test_run_lifecycle(self, ledger_server: Served) -> None:
        """Start, record events, complete; list, show and read the events back."""
        with ledger_server.client() as c:
            r = c.post("/ledger/runs", json=START)
            assert r.status_code == 201
            run = r.json()
            run_id = run["runId"]
            assert run["status"] == "started"
            assert run["authRisk"] is True  # consumer auth, not interactive
            assert run["metadata"] == {"someKey": 1}  # caller-owned keys untouched
            for event in (
                {"type": "auth", "payload": {"ok": True}},
                {"type": "routing", "decision": {"to": "anthropic"}},
                {"type": "provider-call", "payload": {"attempt": 1}},
                {"type": "retry", "payload": {"why": "429"}},
            ):
                assert c.post(f"/ledger/runs/{run_id}/events", json=event).status_code == 200
            done = c.post(
                f"/ledger/runs/{run_id}/complete",
                json={
                    "status": "completed",
                    "latencyMs": 1200,
                    "inputTokens": 9000,
                    "outputTokens": 300,
                    "costUsd": 0.0123,
                    "cacheReadTokens": 8000,
                },
            ).json()
            assert done["status"] == "completed"
            assert done["costUsd"] == 0.0123
            assert done["retries"] == 1
            assert c.get(f"/ledger/runs/{run_id}").json()["runId"] == run_id
            page = c.get("/ledger/runs", params={"workspaceId": "ws-1", "limit": 10}).json()
            assert [x["runId"] for x in page["items"]] == [run_id]
            assert "nextCursor" in page
            events = c.get(f"/ledger/runs/{run_id}/events").json()["items"]
            assert [e["type"] for e in events] == [
                "run.started",
                "run.auth_validated",
                "run.routed",
                "run.provider_called",
                "run.retried",
                "run.completed",
            ]
            assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
            stats = c.get("/ledger/stats", params={"workspaceId": "ws-1"}).json()
            assert stats["runs"] == 1 and stats["authRiskRuns"] == 1
            assert c.get("/ledger/verify").json()["ok"] is True

    def test_cancel(self, ledger_server: Served) -> None:
        """A cancel event ends the run; any later event is a 409."""
        with ledger_server.client() as c:
            run_id = c.post("/ledger/runs", json=START).json()["runId"]
            r = c.post(f"/ledger/runs/{run_id}/events", json={"type": "cancel", "reason": "user"})
            assert r.json()["status"] == "cancelled"
            late = c.post(f"/ledger/runs/{run_id}/complete", json={})
            assert late.status_code == 409
            assert late.json()["code"] == "ERR_CONFLICT"

    def test_usage_is_appended_to_the_ledger(self, ledger_server: Served) -> None:
        """POST /usage becomes a cache.usage event and /stats reads it back."""
        with ledger_server.client() as c:
            key = c.post("/plan", json=plan_input()).json()["prefixKey"]
            c.post(
                "/usage",
                json={
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "prefixKey": key,
                    "inputTokens": 2300,
                    "cacheReadTokens": 2250,
                },
            )
            events = c.get("/ledger/events", params={"type": "cache.usage"}).json()["items"]
            assert len(events) == 1
            assert c.get("/stats").json()["readTokens"] == 2250
            assert c.get("/ledger/events", params={"after": events[0]["position"]}).json() == {
                "items": []
            }


class TestLedgerRefusals:
    def test_unknown_run_is_404(self, ledger_server: Served) -> None:
        """Reading or writing an unknown run is a 404."""
        with ledger_server.client() as c:
            assert c.get("/ledger/runs/nope").status_code == 404
            assert c.get("/ledger/runs/nope/events").status_code == 404
            r = c.post("/ledger/runs/nope/complete", json={})
            assert r.status_code == 404

    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            ({**START, "authType": "robot"}, "auth_type"),
            ({**START, "colour": "red"}, "colour"),
            ({**START, "runId": "mine"}, "run_id"),
            ({"agentId": "a"}, "missing"),
        ],
    )
    def test_invalid_start_is_400(
        self, ledger_server: Served, body: dict[str, object], needle: str
    ) -> None:
        """Bad enum values, unknown and missing fields are 400s naming the field."""
        with ledger_server.client() as c:
            r = c.post("/ledger/runs", json=body)
            assert r.status_code == 400, r.text
            assert needle in r.json()["error"]

    def test_unknown_event_type_is_400(self, ledger_server: Served) -> None:
        """An event type outside the set is a 400 listing the valid ones."""
        with ledger_server.client() as c:
            run_id = c.post("/ledger/runs", json=START).json()["runId"]
            r = c.post(f"/ledger/runs/{run_id}/events", json={"type": "dance"})
            assert r.status_code == 400
            assert "provider-call" in r.json()["error"]

    def test_bad_queries_are_400(self, ledger_server: Served) -> None:
        """Non-integer limits and unknown filters are 400s."""
        with ledger_server.client() as c:
            assert c.get("/ledger/runs", params={"limit": "many"}).status_code == 400
            assert c.get("/ledger/runs", params={"colour": "red"}).status_code == 400
            assert c.get("/ledger/stats", params={"pricing": "x"}).status_code == 400

    def test_no_ledger_is_404(self, client: httpx.Client) -> None:
        """Without --ledger every ledger endpoint says so with a 404."""
        r = client.get("/ledger/runs")
        assert r.status_code == 404
        assert r.json()["code"] == "ERR_NO_LEDGER"


def test_the_documented_required_fields_are_the_required_ones(ledger_server: Served) -> None:
    """RunStart's required fields (from the document) are exactly those whose absence is a
    400; the seed's positional options mapping is not a body field."""
    required = openapi_document()["components"]["schemas"]["RunStart"]["required"]
    assert required == ["workspaceId", "agentId", "provider", "model"]
    minimal = {name: "x" for name in required}
    with ledger_server.client() as c:
        assert c.post("/ledger/runs", json=minimal).status_code == 201
        for name in required:
            body = {k: v for k, v in minimal.items() if k != name}
            assert c.post("/ledger/runs", json=body).status_code == 400, name
        assert c.post("/ledger/runs", json={**minimal, "options": {}}).status_code == 400


def test_field_named_like_an_internal_parameter_is_a_400(ledger_server: Served) -> None:
    """A body field called ``method`` (found by schemathesis) is an unknown field: 400."""
    with ledger_server.client() as c:
        r = c.post("/ledger/runs", json={**START, "method": "x"})
    assert r.status_code == 400
    assert "method" in r.json()["error"]


class TestOffTheLoop:
    def test_a_long_verify_does_not_stall_other_requests(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """While GET /ledger/verify is held inside the ledger (as over a big ledger), the
        loop keeps answering, even with a usage record queued on the ledger and a plan
        queued on the engine behind it. Released, all three complete normally."""
        ledger = open_ledger(tmp_path / "ledger.db")
        entered, release = threading.Event(), threading.Event()
        real_verify = ledger.verify

        def hold(tx: Any) -> None:
            entered.set()
            release.wait(30)

        def held_verify() -> Any:
            # Inside a read transaction, as a long verify is: the ledger's lock is held.
            ledger._backend.read(hold)
            return real_verify()

        ledger.verify = held_verify  # type: ignore[method-assign]
        s = serve(engine=create_racs(ledger=ledger), ledger=ledger)
        with ThreadPoolExecutor(3) as pool, s.client() as c:
            verify = pool.submit(c.get, "/ledger/verify")
            assert entered.wait(10)
            usage = {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "inputTokens": 10,
                "cacheReadTokens": 0,
            }
            waiting = pool.submit(c.post, "/usage", json=usage)  # queued on the ledger lock
            # The engine holds its own lock while it appends usage, so a plan waits too.
            planned = pool.submit(c.post, "/plan", json=plan_input())
            # If any of these ran on the event loop, this would hang until the timeout.
            for path in ("/healthz", "/stats/history", "/openapi.json"):
                assert c.get(path).status_code == 200
            assert not verify.done()
            release.set()
            assert verify.result().json()["ok"] is True
            assert waiting.result().status_code == 200
            assert planned.result().status_code == 200
