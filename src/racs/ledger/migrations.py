"""The ledger schema as an append-only list of numbered migrations.

Never edit or reorder a migration once released: add a new one at the end. Applied
versions are recorded in ``schema_migrations``; a ledger whose recorded version is newer
than this list is refused with ERR_STATE_VERSION. A migration that reshapes the
projections sets ``rebuilds_projections`` so existing events are replayed into them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from racs.core.errors import ERR_STATE_VERSION, RacsError
from racs.ledger.backend import Tx
from racs.ledger.row import run_column_ddl
from racs.ledger.store import count_events, rebuild
from racs.ledger.views import create_days as _traffic_days
from racs.ledger.views import create_tables as _traffic_views


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, a name, and the function applying it."""

    version: int
    name: str
    apply: Callable[[Tx], None]
    rebuilds_projections: bool = False


def _integer_key(tx: Tx) -> str:
    # In SQLite only the exact spelling INTEGER PRIMARY KEY aliases the rowid (no extra
    # index); PostgreSQL needs a 64-bit type.
    return "INTEGER PRIMARY KEY" if tx.dialect == "sqlite" else "BIGINT PRIMARY KEY"


def _clustered(tx: Tx) -> str:
    # SQLite stores a WITHOUT ROWID table in its primary-key B-tree: one tree to write per
    # row instead of the table plus a key index. Only for tables read by their key (runs
    # keep rowids: their secondary indexes would otherwise carry the 26-byte run id).
    # PostgreSQL tables are heaps either way.
    return " WITHOUT ROWID" if tx.dialect == "sqlite" else ""


def _key_text(tx: Tx) -> str:
    # Byte order for ids, whatever the database's locale, so paging and sorting agree
    # across backends.
    return "TEXT" if tx.dialect == "sqlite" else 'TEXT COLLATE "C"'


def add_run_columns(tx: Tx, *names: str) -> None:
    """Add columns declared on ``racs.ledger.row.RunState`` to ``runs``, as declared there.

    The step of a future migration that adds a column: give that migration
    ``rebuilds_projections=True`` so every stored run gets the column's value.
    """
    for name in names:
        tx.run(f"ALTER TABLE runs ADD COLUMN {run_column_ddl(name, _key_text(tx), added=True)}")


def _event_log(tx: Tx) -> None:
    tx.run(
        f"""CREATE TABLE events (
            position {_integer_key(tx)},
            run_id {_key_text(tx)},
            seq INTEGER,
            type TEXT NOT NULL,
            ts BIGINT NOT NULL,
            payload TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""
    )
    # Only events of a run have a place in a run's sequence: usage records without a run
    # (most of them) skip the index entirely.
    tx.run("CREATE UNIQUE INDEX events_run ON events (run_id, seq) WHERE run_id IS NOT NULL")
    if tx.dialect == "sqlite":
        _sqlite_guards(tx)
        return
    tx.run(
        """CREATE FUNCTION racs_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger events are append-only: % refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END $$"""
    )
    tx.run(
        """CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION racs_ledger_append_only()"""
    )
    tx.run(
        """CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION racs_ledger_append_only()"""
    )


def _sqlite_guards(tx: Tx) -> None:
    for op in ("UPDATE", "DELETE"):
        tx.run(
            f"""CREATE TRIGGER events_no_{op.lower()} BEFORE {op} ON events
            BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: {op} refused'); END"""
        )


def _run_links(tx: Tx) -> None:
    # Replaces the (run_id, seq) index, which every append paid for, by a link from each
    # event to its run's previous one and the run's newest position (filled by the rebuild).
    tx.run("ALTER TABLE events ADD COLUMN run_prev BIGINT")
    tx.run("ALTER TABLE runs ADD COLUMN last_position BIGINT")
    if count_events(tx):
        # Events are append-only; this one derived column is filled in with the guard down,
        # inside the migration's transaction.
        if tx.dialect == "sqlite":
            tx.run("DROP TRIGGER events_no_update")
            tx.run("DROP TRIGGER events_no_delete")
        else:
            tx.run("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        tx.run(
            """UPDATE events SET run_prev = (
                SELECT p.position FROM events p
                WHERE p.run_id = events.run_id AND p.seq = events.seq - 1
            ) WHERE run_id IS NOT NULL AND seq > 1"""
        )
        if tx.dialect == "sqlite":
            _sqlite_guards(tx)
        else:
            tx.run("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
    tx.run("DROP INDEX events_run")


def _projections(tx: Tx) -> None:
    tx.run(
        f"""CREATE TABLE runs (
            run_id {_key_text(tx)} PRIMARY KEY,
            workspace_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            auth_type TEXT NOT NULL,
            execution_mode TEXT NOT NULL,
            compliance_mode TEXT NOT NULL,
            auth_risk SMALLINT NOT NULL,
            policy_override SMALLINT NOT NULL,
            status TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            ended_at BIGINT,
            latency_ms DOUBLE PRECISION,
            ttft_ms DOUBLE PRECISION,
            input_tokens BIGINT,
            output_tokens BIGINT,
            total_tokens BIGINT,
            cost_usd DOUBLE PRECISION,
            cache_read_tokens BIGINT,
            cache_write_tokens_5m BIGINT,
            cache_write_tokens_30m BIGINT,
            cache_write_tokens_1h BIGINT,
            prefix_key TEXT,
            plan_id TEXT,
            error_code TEXT,
            error_message TEXT,
            retries INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            event_count INTEGER NOT NULL,
            latency_bucket INTEGER,
            ttft_bucket INTEGER
        )"""
    )
    # Keyset pagination, newest first, with or without the common filters.
    tx.run("CREATE INDEX runs_started ON runs (started_at, run_id)")
    tx.run("CREATE INDEX runs_workspace ON runs (workspace_id, started_at, run_id)")
    tx.run("CREATE INDEX runs_agent ON runs (agent_id, started_at, run_id)")
    # Exact percentiles: count per value bucket, then sort inside one bucket. Keyed by
    # bucket then start time, new runs land at a few hundred append points rather than
    # at random places, which keeps appends cheap.
    for metric in ("latency", "ttft"):
        tx.run(
            f"""CREATE INDEX runs_{metric} ON runs
            ({metric}_bucket, started_at, workspace_id, {metric}_ms)
            WHERE {metric}_bucket IS NOT NULL"""
        )
    tx.run(
        """CREATE TABLE run_rollup (
            workspace_id TEXT NOT NULL,
            hour_start BIGINT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            started BIGINT NOT NULL,
            completed BIGINT NOT NULL,
            failed BIGINT NOT NULL,
            cancelled BIGINT NOT NULL,
            input_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            total_tokens BIGINT NOT NULL,
            cost_usd DOUBLE PRECISION NOT NULL,
            auth_risk_runs BIGINT NOT NULL,
            policy_override_runs BIGINT NOT NULL,
            cache_read_tokens BIGINT NOT NULL,
            cache_write_tokens_5m BIGINT NOT NULL,
            cache_write_tokens_30m BIGINT NOT NULL,
            cache_write_tokens_1h BIGINT NOT NULL,
            uncached_tokens BIGINT NOT NULL,
            PRIMARY KEY (workspace_id, hour_start, provider, model)
        )"""
        + _clustered(tx)
    )
    tx.run(
        f"""CREATE TABLE cache_usage (
            position BIGINT NOT NULL,
            ts BIGINT NOT NULL,
            group_key {_key_text(tx)} NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            prefix_key TEXT,
            agent_id TEXT,
            workspace_id TEXT,
            run_id TEXT,
            input_tokens BIGINT NOT NULL,
            cache_read_tokens BIGINT NOT NULL,
            cache_write_tokens_5m BIGINT NOT NULL,
            cache_write_tokens_30m BIGINT NOT NULL,
            cache_write_tokens_1h BIGINT NOT NULL,
            uncached_tokens BIGINT NOT NULL,
            PRIMARY KEY (ts, position)
        )"""
        + _clustered(tx)
    )
    # Hourly sums of usage records: totals read these for whole hours and cache_usage only
    # for the partial hours at a window's edges. Absent key parts are '' (keys are NOT NULL).
    tx.run(
        f"""CREATE TABLE usage_rollup (
            hour_start BIGINT NOT NULL,
            group_key {_key_text(tx)} NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            prefix_key TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            workspace_id TEXT NOT NULL,
            calls BIGINT NOT NULL,
            hits BIGINT NOT NULL,
            input_tokens BIGINT NOT NULL,
            cache_read_tokens BIGINT NOT NULL,
            cache_write_tokens_5m BIGINT NOT NULL,
            cache_write_tokens_30m BIGINT NOT NULL,
            cache_write_tokens_1h BIGINT NOT NULL,
            uncached_tokens BIGINT NOT NULL,
            PRIMARY KEY (group_key, provider, model, hour_start, prefix_key, agent_id,
                         workspace_id)
        )"""
        + _clustered(tx)
    )


def _run_histograms(tx: Tx) -> None:
    tx.run(
        f"""CREATE TABLE run_histogram (
            metric TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            day_start BIGINT NOT NULL,
            workspace_id {_key_text(tx)} NOT NULL,
            runs BIGINT NOT NULL,
            PRIMARY KEY (metric, bucket, day_start, workspace_id)
        )"""
        + _clustered(tx)
    )


def _intake(tx: Tx) -> None:
    # PostgreSQL writers queue their submissions here and a sequencer chains them (see
    # sequencer.py). SQLite appends straight to the chain: nothing to add there.
    if tx.dialect == "sqlite":
        return
    tx.run(
        """CREATE TABLE ledger_intake (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            types TEXT[] NOT NULL,
            run_ids TEXT[] NOT NULL,
            stamps BIGINT[] NOT NULL,
            payloads TEXT[] NOT NULL
        )"""
    )
    tx.run(
        """CREATE TABLE ledger_refusals (
            intake BIGINT PRIMARY KEY,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            refused_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "event_log", _event_log),
    Migration(2, "projections", _projections, rebuilds_projections=True),
    Migration(3, "run_links", _run_links, rebuilds_projections=True),
    Migration(4, "run_histograms", _run_histograms, rebuilds_projections=True),
    Migration(5, "intake", _intake),
    # The dashboard's roll-ups (racs/ledger/views.py), filled by their reader, not by appends.
    Migration(6, "traffic_views", _traffic_views),
    # The dashboard's sums per day: a range of days reads a tenth of the rows.
    Migration(7, "traffic_days", _traffic_days),
)
LATEST = MIGRATIONS[-1].version


def schema_version(tx: Tx) -> int:
    """The highest applied migration (0 for a new ledger)."""
    rows = tx.rows("SELECT MAX(version) FROM schema_migrations")
    return int(rows[0][0] or 0)


def _has_migrations_table(tx: Tx) -> bool:
    # Asked rather than CREATE TABLE IF NOT EXISTS, which PostgreSQL refuses to a role
    # without CREATE on the schema even when the table exists: the least-privileged
    # application role of the README must be able to open an up-to-date ledger.
    if tx.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    else:
        sql = "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL"
    return bool(tx.rows(sql))


def migrate(tx: Tx, now_ms: int, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema up to the last of ``migrations`` in ``tx``; returns the version.

    Raises ERR_STATE_VERSION, changing nothing, when the ledger is newer than this code.
    """
    if not _has_migrations_table(tx):
        tx.run(
            """CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )"""
        )
    current = schema_version(tx)
    known = migrations[-1].version if migrations else 0
    if current > LATEST:
        raise RacsError(
            ERR_STATE_VERSION,
            f"the ledger schema is version {current}, newer than the version {LATEST} this "
            "racs understands; upgrade racs to open it",
        )
    pending = [m for m in migrations if m.version > current]
    for migration in pending:
        migration.apply(tx)
        tx.run(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, now_ms),
        )
    if any(m.rebuilds_projections for m in pending) and count_events(tx):
        rebuild(tx)
    return max(current, known)
