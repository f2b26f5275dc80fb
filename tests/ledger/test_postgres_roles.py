"""The README's PostgreSQL roles: the application cannot touch the evidence, audits can read it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from ledger.helpers import PG_URL, postgres_unavailable
from racs.core.errors import RacsError
from racs.ledger import create_ledger


def _url(user: str | None, options: str) -> str:
    base = PG_URL if user is None else PG_URL.replace("postgres@", f"{user}@", 1)
    return f"{base}{'&' if '?' in base else '?'}options={quote(options)}"


@pytest.fixture
def roles() -> Iterator[dict[str, str]]:
    """racs_owner (owns the schema), racs_app and racs_audit, granted as the README says."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    names = {
        "owner": f"racs_owner_{suffix}",
        "app": f"racs_app_{suffix}",
        "audit": f"racs_audit_{suffix}",
        "schema": f"racs_{suffix}",
    }
    owner, app, audit, schema = names["owner"], names["app"], names["audit"], names["schema"]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} NOLOGIN")
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute(f"CREATE ROLE {audit} LOGIN")
        conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    try:
        create_ledger(_url(None, f"-csearch_path={schema} -crole={owner}")).close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for sql in (
                f"GRANT USAGE ON SCHEMA {schema} TO {app}",
                f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO {app}",
                f"GRANT UPDATE, DELETE ON {schema}.runs, {schema}.run_rollup, "
                f"{schema}.run_histogram, {schema}.usage_rollup, {schema}.cache_usage TO {app}",
                f"GRANT DELETE ON {schema}.ledger_intake, {schema}.ledger_refusals TO {app}",
                f"REVOKE TRUNCATE, TRIGGER, REFERENCES ON ALL TABLES IN SCHEMA {schema} FROM {app}",
                f"GRANT USAGE ON SCHEMA {schema} TO {audit}",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {audit}",
            ):
                conn.execute(sql)
        yield names
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            for role in (owner, app, audit):
                conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_application_role_cannot_touch_the_evidence(roles: dict[str, str]) -> None:
    """racs_app appends, reads and rebuilds; every way around the guard is refused; a
    projection it edits is found by racs_audit's verify, which writes nothing itself."""
    import psycopg

    app_url = _url(roles["app"], f"-csearch_path={roles['schema']}")
    with create_ledger(app_url) as ledger:
        run_id = ledger.start_run(workspace_id="w", agent_id="a", provider="p", model="m")
        ledger.complete_run(run_id, input_tokens=5, cost_usd=1.0, latency_ms=3)
        ledger.record_cache_usage(provider="p", model="m", input_tokens=3, cache_read_tokens=1)
        assert ledger.rebuild() == 3
        assert ledger.verify().ok
    refused = []
    with psycopg.connect(app_url, autocommit=True) as conn:
        for sql in (
            "ALTER TABLE events DISABLE TRIGGER events_no_update_delete",
            "DROP TRIGGER events_no_update_delete ON events",
            "DROP FUNCTION racs_ledger_append_only() CASCADE",
            "UPDATE events SET ts = 0",
            "DELETE FROM events",
            "TRUNCATE events",
            "SET session_replication_role = replica",
        ):
            try:
                conn.execute(sql)
            except psycopg.errors.InsufficientPrivilege:
                refused.append(sql)
        conn.execute("UPDATE runs SET cost_usd = 99")  # projections stay writable
    assert len(refused) == 7
    audit_url = _url(roles["audit"], f"-csearch_path={roles['schema']}")
    with create_ledger(audit_url) as audit:
        result = audit.verify()
        assert not result.ok and "cost_usd" in (result.reason or "")
        assert audit.anchor().position == 3
        with pytest.raises(RacsError):
            audit.start_run(workspace_id="w", agent_id="a", provider="p", model="m")
