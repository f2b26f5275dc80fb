"""The run row is declared once (``racs.ledger.row``): everything else is read from it."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from ledger.helpers import Store
from racs.ledger import Ledger, Run, RunFilter
from racs.ledger.factory import open_backend
from racs.ledger.migrations import add_run_columns
from racs.ledger.projection import USAGE_ROLLUP_VALUES, USAGE_SUMS
from racs.ledger.row import (
    COLUMNS,
    END_METRICS,
    MUTABLE_RUN_COLUMNS,
    ROLLUP_VALUES,
    RUN_COLUMNS,
    RUN_SUMS,
    RunState,
    run_column_ddl,
    runs_table_ddl,
    started,
)

# How PostgreSQL's information schema names the declared SQL types.
_PG_TYPES = {
    "text": "TEXT",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "double precision": "DOUBLE PRECISION",
}


def _declared(name: str) -> tuple[str, bool]:
    """(base SQL type, NOT NULL) of a column as the table declares it."""
    sql = COLUMNS[name].sql.format(key="TEXT")
    base = sql.replace(" PRIMARY KEY", "").replace(" NOT NULL", "")
    return base, "NOT NULL" in sql or "PRIMARY KEY" in sql


def _runs_schema(store: Store, table: str = "runs") -> list[tuple[str, str, bool]]:
    """(name, base type, NOT NULL) of each column of ``table``, in table order."""
    if store.kind == "sqlite":
        rows = store.raw(f"PRAGMA table_info({table})")
        return [(r[1], r[2], bool(r[3]) or bool(r[5])) for r in rows]
    rows = store.raw(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (store.schema, table),
    )
    return [(r[0], _PG_TYPES[r[1]], r[2] == "NO") for r in rows]


class TestTheTableIsTheSchema:
    def test_migrated_runs_table_has_the_declared_columns(
        self, ledger: Ledger, store: Store
    ) -> None:
        """Migrations 2 and 3 built exactly the columns ``RunState`` declares, in order."""
        expected = [(name, *_declared(name)) for name in RUN_COLUMNS]
        assert _runs_schema(store) == expected

    def test_derived_create_table_matches_the_migrated_one(
        self, ledger: Ledger, store: Store
    ) -> None:
        """``runs_table_ddl`` (for a migration that rebuilds the table) gives the same table."""
        copy = runs_table_ddl("TEXT").replace("CREATE TABLE runs", "CREATE TABLE runs_copy", 1)
        store.raw(copy)
        assert _runs_schema(store, "runs_copy") == _runs_schema(store)

    def test_add_run_columns_adds_to_runs(self, ledger: Ledger, store: Store) -> None:
        """On a ledger whose runs lack a column, ``add_run_columns`` restores it as declared."""
        ledger.close()
        store.raw("ALTER TABLE runs DROP COLUMN last_position")
        backend = open_backend(store.target)
        try:
            backend.write(lambda tx: add_run_columns(tx, "last_position"))
        finally:
            backend.close()
        assert _runs_schema(store)[-1] == ("last_position", "BIGINT", False)

    def test_not_null_columns_get_their_start_value_as_default(self) -> None:
        """Stored runs keep the start value until the migration's rebuild projects them."""
        assert run_column_ddl("retries", "TEXT", added=True) == (
            "retries INTEGER NOT NULL DEFAULT 0"
        )
        assert run_column_ddl("status", "TEXT", added=True) == (
            "status TEXT NOT NULL DEFAULT 'started'"
        )
        with pytest.raises(ValueError, match="workspace_id"):
            run_column_ddl("workspace_id", "TEXT", added=True)


class TestDerived:
    def test_row_and_columns_agree(self) -> None:
        """RUN_COLUMNS is RunState's fields; the mutable ones are those not fixed at start."""
        assert tuple(f.name for f in dataclasses.fields(RunState)) == RUN_COLUMNS
        fixed = {n for n, c in COLUMNS.items() if c.fixed}
        assert set(MUTABLE_RUN_COLUMNS) == set(RUN_COLUMNS) - fixed
        assert "started_at" in fixed and "status" not in fixed

    def test_every_run_field_is_shown_from_the_row(self) -> None:
        """Each public ``Run`` field comes from one column (``error`` from the code and
        message); the bucket and walk columns stay internal."""
        shown = {c.shown_as or n for n, c in COLUMNS.items() if c.shown is not None}
        assert shown == {f.name for f in dataclasses.fields(Run)}
        hidden = {n for n, c in COLUMNS.items() if c.shown is None}
        assert hidden == {"error_message", "latency_bucket", "ttft_bucket", "last_position"}

    def test_a_new_run_state(self) -> None:
        """``started`` fills every column from the start payload, the constants or the time."""
        payload = {
            "workspace_id": "w",
            "agent_id": "a",
            "provider": "p",
            "model": "m",
            "auth_type": "consumer",
            "execution_mode": "background",
            "compliance_mode": "recommended",
            "prefix_key": "k",
            "metadata": {"b": 1, "a": 2},
        }
        state = started("run-1", 1_000, payload)
        assert state.row() == (
            "run-1", "w", "a", "p", "m", "consumer", "background", "recommended",
            1, 0, "started", 1_000, *[None] * 11, "k", None, None, None, 0,
            '{"a":2,"b":1}', 0, None, None, None,
        )  # fmt: skip
        run = state.to_run()
        assert run.auth_risk is True and run.error is None and run.metadata == {"a": 2, "b": 1}

    def test_end_metrics_are_the_complete_run_metrics(self) -> None:
        """The columns an end copies are exactly ``complete_run``'s metric keywords."""
        params = inspect.signature(Ledger.complete_run).parameters
        metrics = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY} - {
            "status",
            "error",
            "metadata",
        }
        assert set(END_METRICS) == metrics


def _full_state() -> RunState:
    state = started(
        "r",
        7_200_000,
        {
            "workspace_id": "w",
            "agent_id": "a",
            "provider": "p",
            "model": "m",
            "auth_type": "api",
            "execution_mode": "interactive",
            "compliance_mode": "recommended",
            "policy_override": True,
        },
    )
    state.status = "completed"
    state.input_tokens, state.output_tokens, state.total_tokens = 1000, 20, 1020
    state.cost_usd = 0.5
    state.cache_read_tokens, state.cache_write_tokens_5m = 600, 100
    state.cache_write_tokens_30m, state.cache_write_tokens_1h = 50, 25
    return state


class TestSums:
    def test_contribution_is_the_sums_of_one_run(self) -> None:
        """The fold's fast path gives what each ``RunSum.value`` gives, in roll-up order."""
        state = _full_state()
        key, values = state.contribution()
        assert key == ("w", 7_200_000, "p", "m")
        assert values == tuple(s.value(state) for s in RUN_SUMS)
        # uncached = 1000 - 600 - 100 - 50 - 25 = 225
        assert dict(zip(ROLLUP_VALUES, values, strict=True)) == {
            "started": 0,
            "completed": 1,
            "failed": 0,
            "cancelled": 0,
            "input_tokens": 1000,
            "output_tokens": 20,
            "total_tokens": 1020,
            "cost_usd": 0.5,
            "auth_risk_runs": 0,
            "policy_override_runs": 1,
            "cache_read_tokens": 600,
            "cache_write_tokens_5m": 100,
            "cache_write_tokens_30m": 50,
            "cache_write_tokens_1h": 25,
            "uncached_tokens": 225,
        }

    def test_sql_sums_over_the_runs_table_equal_the_fold(
        self, ledger: Ledger, store: Store
    ) -> None:
        """``SUM(sql)`` of each run sum over stored runs equals the fold's own sums."""
        for i in range(3):
            run = ledger.start_run(workspace_id="w", agent_id="a", provider="p", model="m")
            if i < 2:
                ledger.complete_run(
                    run,
                    input_tokens=100 * (i + 1),
                    cache_read_tokens=30,
                    cache_write_tokens_5m=200 if i else 0,
                    cost_usd=0.25,
                )
        sql = ", ".join(f"SUM({s.sql})" for s in RUN_SUMS)
        got = [float(x) for x in store.raw(f"SELECT {sql} FROM runs")[0]]
        # started 1, completed 2; input 100 + 200; read 30 + 30; write 200;
        # uncached max(0, 100 - 30) + max(0, 200 - 30 - 200) = 70
        assert dict(zip(ROLLUP_VALUES, got, strict=True)) == {
            **dict.fromkeys(ROLLUP_VALUES, 0.0),
            "started": 1,
            "completed": 2,
            "input_tokens": 300,
            "cost_usd": 0.5,
            "cache_read_tokens": 60,
            "cache_write_tokens_5m": 200,
            "uncached_tokens": 70,
        }

    def test_usage_sums_name_the_usage_rollup(self) -> None:
        """The usage roll-up's values are the usage sums' names, calls and hits first."""
        assert tuple(s.name for s in USAGE_SUMS) == USAGE_ROLLUP_VALUES
        assert USAGE_ROLLUP_VALUES[:2] == ("calls", "hits")


class TestRunFilter:
    def test_the_listings_take_exactly_its_fields(self) -> None:
        """``query_runs`` and ``count_runs`` offer RunFilter's fields as keywords, no more."""
        names = {f.name for f in dataclasses.fields(RunFilter)}
        count = set(inspect.signature(Ledger.count_runs).parameters) - {"self"}
        query = set(inspect.signature(Ledger.query_runs).parameters) - {"self"}
        assert count == names
        assert query == names | {"limit", "cursor"}

    def test_values_are_checked_and_normalised(self) -> None:
        """Dates become ms (an ``until`` date covers its day); a bad value names its field."""
        f = RunFilter(since="2024-01-01", until="2024-01-01", auth_risk=True)
        assert (f.since, f.until) == (1_704_067_200_000, 1_704_153_599_999)
        where, params = f.where()
        assert where == "1 = 1 AND auth_risk = ? AND started_at >= ? AND started_at <= ?"
        assert params == [1, 1_704_067_200_000, 1_704_153_599_999]
        from racs.core.errors import RacsError

        with pytest.raises(RacsError, match="status"):
            RunFilter(status="done")

    def test_unknown_filter_is_a_type_error(self, ledger: Ledger) -> None:
        """A misspelt keyword fails as any Python call would."""
        kwargs: dict[str, Any] = {"workspace": "w"}
        with pytest.raises(TypeError):
            ledger.count_runs(**kwargs)
