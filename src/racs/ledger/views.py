"""The dashboard's tables over the ledger, and the aggregate SQL that answers its panels.

The run ledger is written for appends; what the dashboard asks (spend by token class per
hour, per session, per model, over any range and filter) is answered from three tables
that a reader folds from the events, never from the append path:

- ``traffic_requests``: one row per request as ``racs report --ledger`` reads it (its
  time, model, session, stream, token classes and price), in the reader's order (``seq``);
- ``traffic_hours``: their sums per UTC hour, provider, model and project;
- ``traffic_sessions``: the same per hour and session (sessions, the session filter);
- ``traffic_streams``: the same per hour, stream and agent (streams, the agent filter);
- ``traffic_days``: ``traffic_streams`` per UTC day (a tenth of its rows: sessions last
  hours, not days), so a range of many days reads whole days here and only the hours at
  its edges from the hourly tables;
- ``traffic_fold``: how far the fold has read (event position), the reader's state there
  and the prices it used.

Requests the reader still holds (a run not yet ended, a usage record that may yet be
merged into a run) are written as *provisional* rows, taken back by the next fold, so the
tables always say what a report over the ledger would say at the folded position. Sums
are added with upserts, so a fold costs in proportion to what it reads, whatever the size
of the ledger. Token counts are stored as doubles: exact up to 2**53, like the report's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from racs.core.errors import ERR_STORAGE, RacsError
from racs.ledger.backend import Row, Tx

T = TypeVar("T")

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
TOKEN_COLUMNS: Final = ("fresh", "read", "write_5m", "write_30m", "write_1h", "output")
USD_COLUMNS: Final = (
    "usd_fresh",
    "usd_read",
    "usd_write_5m",
    "usd_write_30m",
    "usd_write_1h",
    "usd_output",
    "usd_saved",
    "usd_premium",
)
SUM_COLUMNS: Final = ("requests", "unpriced", *TOKEN_COLUMNS, *USD_COLUMNS)
HOURS_KEY: Final = ("hour_start", "provider", "model", "project")
SESSIONS_KEY: Final = ("hour_start", "session", "provider", "model", "project")
STREAMS_KEY: Final = ("hour_start", "session", "stream", "provider", "model", "project", "agent")
REQUEST_COLUMNS: Final = (
    "seq",
    "ts",
    "provider",
    "model",
    "session",
    "stream",
    "kind",
    "request_id",
    "project",
    "agent",
    "source",
    *TOKEN_COLUMNS,
    "usd",
    "provisional",
)
TABLES: Final = (
    "traffic_requests",
    "traffic_hours",
    "traffic_sessions",
    "traffic_streams",
    "traffic_fold",
)
ROLLUPS: Final = {"traffic_hours": HOURS_KEY, "traffic_sessions": SESSIONS_KEY,
                  "traffic_streams": STREAMS_KEY}  # fmt: skip
"""Each roll-up and its key, smallest first: a query reads the first with its columns."""
DAYS: Final = "traffic_days"
DAYS_KEY: Final = ("day_start", *STREAMS_KEY[1:])
_SUMMED: Final = {**ROLLUPS, DAYS: DAYS_KEY}
"""Every table of sums the fold adds to."""
DIMENSIONS: Final = ("session", "stream", "model", "project", "agent", "provider")
"""Breakdowns the dashboard lists; every one is a column of ``traffic_streams``."""


def create_tables(tx: Tx) -> None:
    """The migration that adds the dashboard's tables (empty: the first read fills them)."""
    text = "TEXT" if tx.dialect == "sqlite" else 'TEXT COLLATE "C"'
    clustered = " WITHOUT ROWID" if tx.dialect == "sqlite" else ""
    key = "INTEGER PRIMARY KEY" if tx.dialect == "sqlite" else "BIGINT PRIMARY KEY"
    # Derived from the events alone: whatever an earlier copy left is dropped, not trusted.
    for table in TABLES:
        tx.run(f"DROP TABLE IF EXISTS {table}")
    sums = ", ".join(
        [f"{c} BIGINT NOT NULL" for c in ("requests", "unpriced")]
        + [f"{c} DOUBLE PRECISION NOT NULL" for c in (*TOKEN_COLUMNS, *USD_COLUMNS)]
    )
    tx.run(
        """CREATE TABLE traffic_fold (
            id INTEGER PRIMARY KEY,
            position BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            pricing TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at BIGINT NOT NULL
        )"""
    )
    tx.run(
        f"""CREATE TABLE traffic_requests (
            seq {key},
            ts DOUBLE PRECISION NOT NULL,
            provider {text} NOT NULL,
            model {text} NOT NULL,
            session {text} NOT NULL,
            stream {text} NOT NULL,
            kind TEXT NOT NULL,
            request_id TEXT,
            project {text},
            agent {text},
            source TEXT NOT NULL,
            {", ".join(f"{c} DOUBLE PRECISION NOT NULL" for c in TOKEN_COLUMNS)},
            usd DOUBLE PRECISION,
            provisional SMALLINT NOT NULL
        )"""
    )
    # A range of time (the report's walk, the extent) and one session's requests.
    tx.run("CREATE INDEX traffic_requests_ts ON traffic_requests (ts, seq)")
    tx.run("CREATE INDEX traffic_requests_session ON traffic_requests (session, seq)")
    tx.run("CREATE INDEX traffic_requests_provisional ON traffic_requests (provisional, seq)")
    for table, names in ROLLUPS.items():
        columns = ", ".join(f"{c} {text} NOT NULL" for c in names[1:])
        tx.run(
            f"""CREATE TABLE {table} (
                hour_start BIGINT NOT NULL, {columns}, {sums},
                PRIMARY KEY ({", ".join(names)})
            ){clustered}"""
        )


def create_days(tx: Tx) -> None:
    """The migration that adds ``traffic_days``, filled from ``traffic_streams``."""
    text = "TEXT" if tx.dialect == "sqlite" else 'TEXT COLLATE "C"'
    clustered = " WITHOUT ROWID" if tx.dialect == "sqlite" else ""
    sums = ", ".join(
        [f"{c} BIGINT NOT NULL" for c in ("requests", "unpriced")]
        + [f"{c} DOUBLE PRECISION NOT NULL" for c in (*TOKEN_COLUMNS, *USD_COLUMNS)]
    )
    columns = ", ".join(f"{c} {text} NOT NULL" for c in DAYS_KEY[1:])
    tx.run(f"DROP TABLE IF EXISTS {DAYS}")
    tx.run(
        f"""CREATE TABLE {DAYS} (
            day_start BIGINT NOT NULL, {columns}, {sums},
            PRIMARY KEY ({", ".join(DAYS_KEY)})
        ){clustered}"""
    )
    # Floor division (SQL's truncates toward zero): hours before 1970 have a day too.
    day = (
        f"CASE WHEN hour_start >= 0 THEN hour_start / {DAY_MS} * {DAY_MS} "
        f"ELSE -((-hour_start + {DAY_MS - 1}) / {DAY_MS}) * {DAY_MS} END"
    )
    groups = ", ".join(str(i) for i in range(1, len(DAYS_KEY) + 1))
    tx.run(
        f"INSERT INTO {DAYS} ({', '.join((*DAYS_KEY, *SUM_COLUMNS))}) "
        f"SELECT {day}, {', '.join(DAYS_KEY[1:])}, {_SUMS_SELECT} "
        f"FROM traffic_streams GROUP BY {groups}"
    )


# --- the fold's bookkeeping ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoldMark:
    """How far the fold has read: the event position, requests so far, its reader state."""

    position: int
    seq: int
    pricing: str
    state: dict[str, Any]
    updated_at: int


def fold_mark(tx: Tx, *, lock: bool = False) -> FoldMark | None:
    """The fold's mark (``lock``: held until the transaction ends, on PostgreSQL)."""
    sql = "SELECT position, seq, pricing, state, updated_at FROM traffic_fold WHERE id = 1"
    if lock and tx.dialect != "sqlite":
        sql += " FOR UPDATE"
    rows = tx.rows(sql)
    if not rows:
        return None
    position, seq, pricing, state, updated = rows[0]
    try:
        parsed = json.loads(state)
    except ValueError:
        parsed = {}
    return FoldMark(int(position), int(seq), str(pricing), parsed, int(updated))


def head_position(tx: Tx) -> int:
    """The ledger's newest event position (0 when empty)."""
    rows = tx.rows("SELECT MAX(position) FROM events")
    return int(rows[0][0] or 0)


def reset(tx: Tx) -> None:
    """Forget everything folded (the prices changed, or the ledger is not what was read)."""
    for table in (*TABLES, DAYS):
        tx.run(f"DELETE FROM {table}")


def save_mark(tx: Tx, mark: FoldMark) -> None:
    """Record how far the fold has read."""
    tx.run("DELETE FROM traffic_fold WHERE id = 1")
    tx.run(
        "INSERT INTO traffic_fold (id, position, seq, pricing, state, updated_at) "
        "VALUES (1, ?, ?, ?, ?, ?)",
        (mark.position, mark.seq, mark.pricing, json.dumps(mark.state), mark.updated_at),
    )


def _upsert(table: str, key: tuple[str, ...]) -> str:
    columns = (*key, *SUM_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUM_COLUMNS)
    )


_UPSERTS: Final = {table: _upsert(table, key) for table, key in _SUMMED.items()}
_REQUEST_INSERT: Final = (
    f"INSERT INTO traffic_requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)


def add_requests(
    tx: Tx, rows: Sequence[Sequence[Any]], usd_classes: Sequence[Sequence[float]]
) -> None:
    """Insert request rows (``REQUEST_COLUMNS``) and add them to the hourly sums.

    ``usd_classes`` gives each row's dollars in ``USD_COLUMNS`` order (zeros: unpriced).
    """
    if not rows:
        return
    tx.run_many(_REQUEST_INSERT, rows)
    _add_sums(tx, rows, usd_classes, 1)


def _add_sums(
    tx: Tx, rows: Sequence[Sequence[Any]], usd_classes: Sequence[Sequence[float]], sign: int
) -> None:
    col = {name: i for i, name in enumerate(REQUEST_COLUMNS)}
    i_tok = col[TOKEN_COLUMNS[0]]
    sums: dict[str, dict[tuple[Any, ...], list[float]]] = {t: {} for t in _SUMMED}
    for row, usd in zip(rows, usd_classes, strict=True):
        values: list[float] = [float(sign), float(sign if row[col["usd"]] is None else 0)]
        values += [sign * row[i_tok + k] for k in range(len(TOKEN_COLUMNS))]
        values += [sign * v for v in usd]
        hour = int(row[col["ts"]] // HOUR_MS * HOUR_MS)
        fields = {
            "hour_start": hour,
            "day_start": hour // DAY_MS * DAY_MS,
            "provider": row[col["provider"]],
            "model": row[col["model"]],
            "project": row[col["project"]] or "",
            "agent": row[col["agent"]] or "",
            "session": row[col["session"]],
            "stream": row[col["stream"]],
        }
        for table, key in _SUMMED.items():
            k = tuple(fields[c] for c in key)
            acc = sums[table].get(k)
            if acc is None:
                sums[table][k] = values[:]
            else:
                for i, v in enumerate(values):
                    acc[i] += v
    for table, found in sums.items():
        # Counts go in as integers (the columns are BIGINT on PostgreSQL too).
        tx.run_many(_UPSERTS[table], [(*k, int(v[0]), int(v[1]), *v[2:]) for k, v in found.items()])


def take_provisional(tx: Tx, usd_of: Callable[[Row], Sequence[float]]) -> None:
    """Remove the provisional rows of the previous fold and take them out of the sums."""
    rows = tx.rows(
        f"SELECT {', '.join(REQUEST_COLUMNS)} FROM traffic_requests WHERE provisional = 1"
    )
    if not rows:
        return
    _add_sums(tx, rows, [usd_of(r) for r in rows], -1)
    tx.run("DELETE FROM traffic_requests WHERE provisional = 1")
    # Sums that fell back to no request at all are dropped, not kept as zeros.
    for table in _SUMMED:
        tx.run(f"DELETE FROM {table} WHERE requests = 0")


# --- what the panels ask ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Which requests a panel covers: the report's filters (``Filters``) plus the agent.

    ``since``/``until`` are whole UTC hours (ms), so hourly sums and request times agree;
    ``model`` and ``project`` match as substrings and ``session`` as a prefix, as in
    ``racs report``; ``agent`` is exact (``""``: the main conversation).
    """

    since: int | None = None
    until: int | None = None
    model: str | None = None
    project: str | None = None
    session: str | None = None
    agent: str | None = None

    def where(self, dialect: str, time: str = "hour_start") -> tuple[str, list[Any]]:
        """The SQL condition and its parameters (``time``: the column holding the time)."""
        find = "instr({c}, ?) > 0" if dialect == "sqlite" else "strpos({c}, ?) > 0"
        clauses = ["1 = 1"]
        params: list[Any] = []
        if self.since is not None:
            clauses.append(f"{time} >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{time} < ?")
            params.append(self.until)
        if self.model:
            clauses.append(find.format(c="model"))
            params.append(self.model)
        if self.project:
            clauses.append(find.format(c="COALESCE(project, '')"))
            params.append(self.project)
        if self.session:
            clauses.append("substr(session, 1, ?) = ?")
            params += [len(self.session), self.session]
        if self.agent is not None:
            clauses.append("COALESCE(agent, '') = ?")
            params.append(self.agent)
        return " AND ".join(clauses), params

    def columns(self) -> set[str]:
        """The roll-up columns the scope filters on."""
        out = {"model", "project"}
        if self.session:
            out.add("session")
        if self.agent is not None:
            out.add("agent")
        return out


_SUMS_SELECT: Final = ", ".join(f"SUM({c})" for c in SUM_COLUMNS)


def _table(scope: Scope, *more: str) -> str:
    """The smallest roll-up holding the scope's columns and ``more``."""
    wanted = scope.columns() | set(more)
    return next(t for t, key in ROLLUPS.items() if wanted <= set(key))


def rollup(scope: Scope, *more: str) -> str:
    """The roll-up table a query over ``scope`` (and columns ``more``) reads."""
    return _table(scope, *more)


def _pieces(scope: Scope, *more: str) -> list[tuple[str, Scope, str]]:
    """(table, scope, time column) whose union is the scope, each request in one piece:
    the whole UTC days from ``traffic_days``, the hours at either edge from a roll-up."""
    lo = None if scope.since is None else -(-scope.since // DAY_MS) * DAY_MS
    hi = None if scope.until is None else scope.until // DAY_MS * DAY_MS
    hourly = _table(scope, *more)
    if lo is not None and hi is not None and lo >= hi:
        return [(hourly, scope, "hour_start")]
    out = [(DAYS, dataclasses.replace(scope, since=lo, until=hi), "day_start")]
    if scope.since is not None and lo is not None and scope.since < lo:
        out.append((hourly, dataclasses.replace(scope, until=lo), "hour_start"))
    if scope.until is not None and hi is not None and hi < scope.until:
        out.append((hourly, dataclasses.replace(scope, since=hi), "hour_start"))
    return out


def _source(tx: Tx, scope: Scope, *columns: str) -> tuple[str, str, list[Any]]:
    """FROM and WHERE (with parameters) reading the scope's sums with ``columns``."""
    pieces = _pieces(scope, *columns)
    if len(pieces) == 1:
        table, part, time = pieces[0]
        where, params = part.where(tx.dialect, time)
        return table, where, params
    wanted = ", ".join((*dict.fromkeys(columns), *SUM_COLUMNS))
    selects: list[str] = []
    params = []
    for table, part, time in pieces:
        where, more = part.where(tx.dialect, time)
        selects.append(f"SELECT {wanted} FROM {table} WHERE {where}")
        params += more
    return f"({' UNION ALL '.join(selects)}) AS pieces", "1 = 1", params


def totals(tx: Tx, scope: Scope) -> tuple[float, ...]:
    """Sums of ``SUM_COLUMNS`` over the scope (zeros when it is empty)."""
    source, where, params = _source(tx, scope)
    row = tx.rows(f"SELECT {_SUMS_SELECT} FROM {source} WHERE {where}", params)[0]
    return tuple(float(v or 0) for v in row)


def series(tx: Tx, scope: Scope, origin: int, step: int) -> list[tuple[int, tuple[float, ...]]]:
    """Sums per time bucket of ``step`` ms from ``origin``: (bucket start, sums) in order."""
    where, params = scope.where(tx.dialect)
    rows = tx.rows(
        f"SELECT (hour_start - ?) / ? AS b, {_SUMS_SELECT} FROM {_table(scope)} "
        f"WHERE {where} GROUP BY 1 ORDER BY 1",
        [origin, step, *params],
    )
    return [(origin + int(b) * step, tuple(float(v or 0) for v in rest)) for b, *rest in rows]


def _spend_order() -> str:
    usd = " + ".join(f"SUM({c})" for c in USD_COLUMNS[:6])
    tokens = " + ".join(f"SUM({c})" for c in TOKEN_COLUMNS[:5])
    return f"{usd} DESC, {tokens} DESC"


def breakdown(
    tx: Tx, scope: Scope, dim: str, limit: int
) -> list[tuple[str, str, tuple[float, ...]]]:
    """The ``limit`` values of ``dim`` with the most dollars: (value, project, sums)."""
    if dim not in DIMENSIONS:
        raise RacsError(ERR_STORAGE, f"no breakdown by {dim!r}")
    source, where, params = _source(tx, scope, dim, "project")
    rows = tx.rows(
        f"SELECT {dim}, MIN(project), {_SUMS_SELECT} FROM {source} WHERE {where} "
        f"GROUP BY {dim} ORDER BY {_spend_order()}, {dim} LIMIT ?",
        [*params, limit],
    )
    return [(str(v), str(p or ""), tuple(float(x or 0) for x in rest)) for v, p, *rest in rows]


def distinct(tx: Tx, scope: Scope, dim: str, limit: int) -> list[str]:
    """The values of ``dim`` in the scope, sorted, at most ``limit`` (no sums: cheap)."""
    if dim not in DIMENSIONS:
        raise RacsError(ERR_STORAGE, f"no breakdown by {dim!r}")
    source, where, params = _source(tx, scope, dim)
    rows = tx.rows(
        f"SELECT DISTINCT {dim} FROM {source} WHERE {where} ORDER BY 1 LIMIT ?",
        [*params, limit],
    )
    return [str(r[0]) for r in rows]


def models(tx: Tx, scope: Scope, limit: int) -> list[tuple[str, str]]:
    """The (provider, model) pairs of the scope, sorted, at most ``limit``."""
    source, where, params = _source(tx, scope, "provider", "model")
    rows = tx.rows(
        f"SELECT DISTINCT provider, model FROM {source} WHERE {where} ORDER BY 1, 2 LIMIT ?",
        [*params, limit],
    )
    return [(str(p), str(m)) for p, m in rows]


def span(tx: Tx, sessions: Sequence[str], scope: Scope) -> dict[str, tuple[float, float]]:
    """First and last request time of each of ``sessions`` inside the scope's range."""
    if not sessions:
        return {}
    inside = Scope(scope.since, scope.until)
    where, params = inside.where(tx.dialect, "ts")
    found, any_params = tx.any_of("session", list(sessions))
    rows = tx.rows(
        f"SELECT session, MIN(ts), MAX(ts) FROM traffic_requests WHERE {found} AND {where} "
        "GROUP BY session",
        [any_params, *params],
    )
    return {str(s): (float(a), float(b)) for s, a, b in rows}


def count(tx: Tx, scope: Scope) -> int:
    """Requests in the scope."""
    source, where, params = _source(tx, scope)
    rows = tx.rows(f"SELECT SUM(requests) FROM {source} WHERE {where}", params)
    return int(rows[0][0] or 0)


def extent(tx: Tx) -> tuple[float, float] | None:
    """The first and last request time in the tables (``None``: no request yet)."""
    # Two subqueries: each is one step down the (ts) index, where MIN and MAX together
    # would scan the table.
    rows = tx.rows(
        "SELECT (SELECT MIN(ts) FROM traffic_requests), (SELECT MAX(ts) FROM traffic_requests)"
    )
    if not rows or rows[0][0] is None:
        return None
    return float(rows[0][0]), float(rows[0][1])


def requests_of(tx: Tx, scope: Scope, after_seq: int, limit: int) -> list[Row]:
    """Request rows (``REQUEST_COLUMNS``) in the scope after ``after_seq``, in reader order."""
    where, params = scope.where(tx.dialect, "ts")
    return tx.rows(
        f"SELECT {', '.join(REQUEST_COLUMNS)} FROM traffic_requests "
        f"WHERE seq > ? AND {where} ORDER BY seq LIMIT ?",
        [after_seq, *params, limit],
    )


def session_requests(tx: Tx, session: str, limit: int) -> list[Row]:
    """One session's request rows in reader order, at most ``limit``."""
    return tx.rows(
        f"SELECT {', '.join(REQUEST_COLUMNS)} FROM traffic_requests "
        "WHERE session = ? ORDER BY seq LIMIT ?",
        [session, limit],
    )
