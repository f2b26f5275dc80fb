"""Helpers of the ledger contract suite: the fake clock, backend stores, common calls.

PostgreSQL comes from ``RACS_TEST_POSTGRES_URL`` (default: the local trust-auth server);
each test gets a schema of its own, dropped afterwards. Without a reachable server the
PostgreSQL half is skipped locally and fails under CI (``CI`` set), which must run it.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from racs import testing
from racs.ledger import Ledger, create_ledger

PG_URL = os.environ.get("RACS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class FakeClock(testing.FakeClock):
    """The ledger's clock: from ``T0``, one millisecond per reading."""

    def __init__(self, now: int = T0, step: int = 1) -> None:
        super().__init__(now, step)


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be tested here, or None when it can (asked once per session)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: no server to test against
        return f"PostgreSQL at {PG_URL} is unreachable: {exc}"
    return None


@dataclass
class Store:
    """How a test opens, reopens and (bypassing the ledger) pokes at one backend."""

    kind: str
    target: str
    schema: str | None = None
    opened: list[Ledger] = field(default_factory=list)

    def open(self, clock: Callable[[], int] | None = None) -> Ledger:
        """Open the ledger here (closed by the fixture if the test does not)."""
        ledger = create_ledger(self.target, clock=clock)
        self.opened.append(ledger)
        return ledger

    def raw(self, sql: str, params: Sequence[Any] = (), *, bypass: bool = False) -> list[Any]:
        """Run SQL on a separate raw connection; ``bypass`` disables the append-only guard."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target, isolation_level=None)
            try:
                if bypass:
                    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
                    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
                cur = conn.execute(sql, params)
                return cur.fetchall() if cur.description else []
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            if bypass:
                conn.execute("SET session_replication_role = replica")
            cur = conn.execute(sql.replace("?", "%s"), params or None)
            return cur.fetchall() if cur.description else []

    def count_events(self) -> int:
        """How many events are stored, counted around the ledger."""
        return int(self.raw("SELECT COUNT(*) FROM events")[0][0])


def start(ledger: Any, **overrides: Any) -> str:
    """Start a run with sensible defaults (works on a Ledger or a Batch)."""
    fields: dict[str, Any] = {
        "workspace_id": "ws_1",
        "agent_id": "agent_1",
        "provider": "anthropic",
        "model": "claude-3-5-sonnet",
    }
    fields.update(overrides)
    run_id: str = ledger.start_run(**fields)
    return run_id


def history(ledger: Ledger) -> list[str]:
    """A varied history: every event type, every end, usage with and without runs."""
    done = start(ledger, metadata={"k": "v"}, prefix_key="pk")
    ledger.record_auth_validation(done, {"valid": True})
    ledger.record_policy_evaluation(done, [{"p": 1}], policy_override=True)
    ledger.record_routing(done, {"provider": "anthropic"})
    ledger.record_provider_call(done, {"status": 200})
    ledger.record_retry(done, {"attempt": 2})
    ledger.complete_run(
        done,
        latency_ms=12.5,
        ttft_ms=3,
        input_tokens=100,
        output_tokens=7,
        total_tokens=107,
        cost_usd=0.25,
        cache_read_tokens=40,
        cache_write_tokens_5m=10,
        cache_write_tokens_1h=5,
        metadata={"x": 1},
    )
    failed = start(
        ledger,
        provider="openai",
        model="gpt",
        auth_type="consumer",
        execution_mode="scheduled",
        workspace_id="ws_2",
    )
    ledger.complete_run(failed, status="failed", error={"code": "E", "message": "ünïcødé"})
    cancelled = start(ledger)
    ledger.cancel_run(cancelled, reason="stop")
    running = start(ledger, compliance_mode="permissive")
    ledger.record_cache_usage(
        provider="anthropic",
        model="claude",
        input_tokens=50,
        cache_read_tokens=20,
        prefix_key="pk",
        run_id=done,
    )
    ledger.record_cache_usage(
        provider="openai",
        model="gpt",
        input_tokens=9,
        cache_read_tokens=0,
        agent_id="a",
        timestamp=5,
    )
    return [done, failed, cancelled, running]


def projections(store: Store) -> dict[str, list[Any]]:
    """Every projection row, read around the ledger (roll-up costs rounded: sums of floats)."""
    rollup = store.raw(
        "SELECT * FROM run_rollup ORDER BY workspace_id, hour_start, provider, model"
    )
    return {
        "runs": store.raw("SELECT * FROM runs ORDER BY run_id"),
        "run_rollup": [
            tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rollup
        ],
        "run_histogram": store.raw(
            "SELECT * FROM run_histogram ORDER BY metric, bucket, day_start, workspace_id"
        ),
        "cache_usage": store.raw("SELECT * FROM cache_usage ORDER BY position"),
        "usage_rollup": store.raw(
            "SELECT * FROM usage_rollup ORDER BY group_key, provider, "
            "model, hour_start, prefix_key, agent_id, workspace_id"
        ),
    }
