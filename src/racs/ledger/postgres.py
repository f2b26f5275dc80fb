"""The PostgreSQL backend, for ledgers shared by many hosts.

The ledger lives in the connection's current schema (choose one with
``?options=-csearch_path%3Dmy_schema`` in the URL; it is created if missing).

Appends scale with writers (see sequencer.py): a call that finds the schema's sequencer
turn free (a session advisory lock) chains its events at once, together with whatever is
queued; otherwise it queues them in ``ledger_intake``, whose commit makes them durable, and
waits to hear the sequencer announce their positions. A start_run does not wait (its run
id is its answer); reads through the same ledger wait for it, so a caller always sees its
own writes. The holder of the turn keeps it while the queue refills (up to ``TURN_S``),
then hands it over; a dead holder's session ends and with it the turn, which the next
waiting writer takes within ``POLL_S``. Migrations and rebuilds take the same lock per
transaction. A commit is durable as PostgreSQL's own ``synchronous_commit`` makes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg import conninfo
from psycopg import sql as pg_sql
from psycopg.pq import TransactionStatus

from racs.core.errors import ERR_CLOSED, ERR_CONFLICT, ERR_STORAGE, RacsError
from racs.ledger.backend import Backend, Row, T, Tx
from racs.ledger.events import PendingEvent
from racs.ledger.sequencer import (
    BATCH_SUBMISSIONS,
    CHAIN_HEAD,
    INTAKE_INSERT,
    INTAKE_TAKE,
    PENDING_EVENTS,
    QUEUED_RUNS,
    Taken,
    announced,
    intake_row,
    seal_batch,
    take_refusal,
)

_LOCK_NAMESPACE: Final = "racs.ledger:"
# COPY costs extra round trips; a pipelined INSERT wins until a batch has this many rows.
_COPY_FROM: Final = 64
# How long a sequencer keeps its turn while the queue keeps refilling: many batches per
# turn, without holding up its own caller for long.
TURN_S: Final = 0.1
# A waiting writer hears every batch announced; after this long without hearing its own,
# it tries the turn (the sequencer may have died, its session and turn ending with it).
# Only a death needs it, so it is long enough to cost next to nothing while all is well.
POLL_S: Final = 0.25
# How long a call waits for its events to be chained before it reports the delay.
WAIT_S: Final = 30.0
# Submissions this large wait for the turn and are chained directly rather than queued.
DIRECT_EVENTS: Final = 64


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    # The ledger's SQL is written with "?" placeholders and never contains "%".
    return sql.replace("?", "%s")


@contextmanager
def _duplicates_refused() -> Iterator[None]:
    # A duplicate key is the caller's conflict, not a storage fault (the transaction is
    # rolled back by the backend either way).
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise RacsError(ERR_CONFLICT, f"duplicate key: {exc}") from exc


class _PostgresTx:
    """``Tx`` over a psycopg cursor inside a transaction."""

    dialect = "postgres"

    def __init__(
        self, cur: psycopg.Cursor[Any], types: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self._cur = cur
        # Column types per table: inserts then go as one statement over arrays, which can
        # join a pipeline (COPY cannot) and costs one statement however many rows.
        self._types = types
        # Other hosts write without telling us: nothing is remembered between transactions.
        self.memo: dict[str, Any] = {}

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(_pg(sql) if params else sql, params or None)
        return self._cur.fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(_pg(sql) if params else sql, params or None)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with _duplicates_refused():
            self._cur.executemany(_pg(sql), rows)

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        types = None if self._types is None else self._types.get(table)
        if types is not None:
            self._cur.execute(
                _unnest_insert(table, tuple(columns), tuple(types[c] for c in columns)),
                _arrays(rows, columns, types),
            )
            return
        if len(rows) < _COPY_FROM:
            marks = ", ".join("?" * len(columns))
            self.run_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        with (
            _duplicates_refused(),
            self._cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def any_of(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", list(values)


class PostgresBackend(Backend):
    """A ledger in a PostgreSQL schema; the URL is any libpq connection string."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self._url = url
        self.description = _redacted(url)
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._lock_key = 0  # per schema: ledgers in different schemas never wait on each other
        self._channel = ""
        # Submissions this connection queued without waiting (starts), not yet seen chained:
        # reads wait for them, so a caller always sees its own writes.
        self._unchained: set[int] = set()
        self._awaiting: int | None = None
        self._outcome: int | RacsError | None = None
        self._heard = False
        self._contended = False
        self._types: Mapping[str, Mapping[str, str]] | None = None
        with self._translated():
            self._connection()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        # The one place where psycopg errors become RacsError.
        try:
            yield
        except psycopg.Error as exc:
            raise RacsError(ERR_STORAGE, f"PostgreSQL ledger {self.description}: {exc}") from exc

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise RacsError(ERR_CLOSED, f"the ledger {self.description} is closed")
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            # A dropped connection is replaced on next use rather than failing forever.
            self._unchained.clear()  # still durable; chained by whichever sequencer runs
            conn = psycopg.connect(self._url, autocommit=True)
            try:
                self._lock_key, self._channel = self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    @staticmethod
    def _prepare(conn: psycopg.Connection[Any]) -> tuple[int, str]:
        """Create the search path's schema if missing; the schema's lock key and channel."""
        schemas = conn.execute("SELECT current_schemas(false)").fetchone()
        search_path = conn.execute("SHOW search_path").fetchone()
        if schemas is not None and not schemas[0] and search_path is not None:
            first = search_path[0].split(",")[0].strip().strip('"')
            conn.execute(
                pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg_sql.Identifier(first))
            )
        row = conn.execute(
            "SELECT hashtext(%s || current_schema()), md5(current_schema())", (_LOCK_NAMESPACE,)
        ).fetchone()
        if row is None or row[0] is None:
            return 0, "racs_ledger"
        # A full digest: two schemas sharing a lock key only wait on each other, but sharing
        # a channel they would read each other's announcements.
        return int(row[0]), f"racs_ledger_{row[1]}"

    def write(self, fn: Callable[[Tx], T]) -> T:
        with self._lock, self._translated():
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                # Conflicts with the sequencer's session lock on the same key.
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                return fn(_PostgresTx(cur))

    def read(self, fn: Callable[[Tx], T]) -> T:
        with self._lock, self._translated():
            conn = self._connection()
            if self._unchained:
                self._await_unchained(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return fn(_PostgresTx(cur))

    # Appending: the intake queue and the sequencer turn ---------------------------------

    def append(self, events: Sequence[PendingEvent], *, wait: bool = True) -> list[int] | None:
        with self._lock, self._translated():
            conn = self._connection()
            # Trying the turn first pays off unless other writers keep it busy.
            first_try = not self._contended and self._try_turn(conn)
            if first_try or (len(events) >= DIRECT_EVENTS and self._take_turn(conn)):
                # The turn is ours: chain the queue and these events in one transaction.
                own, _ = self._sequence(conn, events)
                if isinstance(own, RacsError):
                    raise own
                return own
            if not wait:
                intake, turn = self._enqueue(conn, events, wait=False)
                self._unchained.add(intake)
                if turn:
                    self._sequence(conn)
                return None
            intake, turn = self._enqueue(conn, events, wait=True)
            try:
                first = self._await(conn, intake, turn)
            finally:
                conn.execute(pg_sql.SQL("UNLISTEN {}").format(pg_sql.Identifier(self._channel)))
            return list(range(first, first + len(events)))

    def _enqueue(
        self, conn: psycopg.Connection[Any], events: Sequence[PendingEvent], *, wait: bool
    ) -> tuple[int, bool]:
        """Queue one submission, then try the turn; its id and whether the turn was taken.

        One round trip: the values travel as literals, so the statements share one
        simple-protocol query. The turn is tried after the commit: a sequencer that looked
        at the queue just before it may be handing over, and whoever holds the turn after
        the commit chains the submission. An unwaited submission is acknowledged by its
        commit, so that commit is synchronous. A waited one is acknowledged only once
        chained, by a synchronous commit whose WAL flush covers this earlier insert: its
        own commit need not wait for the disk. It listens, in the same transaction, so the
        announcement cannot come unheard (only while waiting: an idle listener would hold
        back every NOTIFY).
        """
        values = [pg_sql.Literal(column) for column in intake_row(events)]
        statements: list[pg_sql.Composable] = [pg_sql.SQL("BEGIN")]
        if wait:
            statements.append(pg_sql.SQL("LISTEN {}").format(pg_sql.Identifier(self._channel)))
            statements.append(pg_sql.SQL("SET LOCAL synchronous_commit TO off"))
        statements.append(pg_sql.SQL(_pg_literal(INTAKE_INSERT)).format(*values))
        statements.append(pg_sql.SQL("COMMIT"))
        statements.append(pg_sql.SQL("SELECT pg_try_advisory_lock({})").format(self._lock_key))
        results = []
        with conn.cursor() as cur:
            cur.execute(pg_sql.SQL("; ").join(statements))
            while True:
                if cur.description is not None:
                    results.append(cur.fetchone())
                if not cur.nextset():
                    break
        intake, turn = results[0], results[-1]
        if intake is None or turn is None:
            raise RacsError(ERR_STORAGE, f"PostgreSQL ledger {self.description}: no intake id")
        self._contended = not turn[0]
        return int(intake[0]), bool(turn[0])

    def _try_turn(self, conn: psycopg.Connection[Any], *, after_commit: bool = False) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()
        taken = bool(row and row[0])
        if after_commit or not taken:
            self._contended = not taken
        return taken

    def _take_turn(self, conn: psycopg.Connection[Any]) -> bool:
        conn.execute("SELECT pg_advisory_lock(%s)", (self._lock_key,))
        return True

    def _sequence(
        self,
        conn: psycopg.Connection[Any],
        own: Sequence[PendingEvent] | None = None,
        *,
        drain: bool = False,
    ) -> tuple[list[int] | RacsError | None, int]:
        """Chain batches while holding the turn, then hand it over.

        Returns ``own``'s outcome (chained after everything queued before it, this
        connection's earlier submissions included) and how many events were chained.
        Keeps the turn while the queue refills, for at most ``TURN_S`` unless ``drain``.
        After releasing it, looks at the queue once more: a writer whose submission
        committed while the turn was held found it taken, and counts on this look.
        """
        result: list[int] | RacsError | None = None
        chained = 0
        key = (self._lock_key,)
        own_runs = sorted({e.run_id for e in own or () if e.run_id is not None})
        deadline = time.monotonic() + TURN_S
        holding = True
        try:
            while True:
                # Two round trips a batch: the reads, then the writes, the announcement, the
                # commit and, when the turn ends, the hand-over and the look at the queue.
                with conn.pipeline() as pipe:
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                    head = conn.execute(CHAIN_HEAD)
                    runs = conn.execute(_pg(QUEUED_RUNS), (BATCH_SUBMISSIONS, own_runs))
                    take = conn.execute(_pg(INTAKE_TAKE), (BATCH_SUBMISSIONS,))
                    taken = Taken.of(head.fetchall(), runs.fetchall(), take.fetchall())
                    with conn.cursor() as cur:
                        sealed = seal_batch(
                            _PostgresTx(cur, self._column_types(conn)), taken, self._channel, own
                        )
                        cur.execute("COMMIT")
                        last = (own is None or sealed.own is not None) and (
                            not taken.queued or (not drain and time.monotonic() > deadline)
                        )
                        if last:
                            cur.execute("SELECT pg_advisory_unlock(%s)", key)
                            again = conn.execute(_RECHECK, key).fetchone()
                        else:
                            pipe.sync()
                if sealed.own is not None:
                    result, own = sealed.own, None
                    self._unchained.clear()
                chained += sealed.events
                for intake, outcome in sealed.outcomes.items():
                    self._learn(intake, outcome)
                if last:
                    holding = bool(again and again[0])
                    if not holding:
                        return result, chained
                    deadline = time.monotonic() + TURN_S
        except BaseException:
            if not conn.broken:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                if holding:
                    conn.execute("SELECT pg_advisory_unlock(%s)", key)
            raise

    def _column_types(self, conn: psycopg.Connection[Any]) -> Mapping[str, Mapping[str, str]]:
        """The SQL types of the columns of the tables a batch inserts into (read once)."""
        if self._types is None:
            rows = conn.execute(_COLUMN_TYPES, (list(_ARRAY_TABLES),)).fetchall()
            types: dict[str, dict[str, str]] = {}
            for table, column, type_ in rows:
                types.setdefault(table, {})[column] = type_
            self._types = types
        return self._types

    def _learn(self, intake: int, outcome: int | RacsError | None) -> None:
        self._unchained.discard(intake)
        if intake == self._awaiting:
            self._outcome = outcome
            self._heard = True
            # Batches take the oldest submissions first, and this connection's earlier
            # ones were committed before this one was written: they are chained too.
            self._unchained.clear()

    def _await(self, conn: psycopg.Connection[Any], intake: int, turn: bool) -> int:
        """The first position of a queued submission once chained; raises its refusal.

        ``turn``: the sequencer turn was taken right after the submission's commit.
        """
        self._awaiting, self._outcome, self._heard = intake, None, False
        try:
            deadline = time.monotonic() + WAIT_S
            while not self._heard:
                if turn:
                    turn = False
                    self._sequence(conn)
                    if self._heard:
                        break
                    # Chained by an earlier holder: its announcement is read just below.
                if time.monotonic() > deadline:
                    raise RacsError(
                        ERR_STORAGE,
                        f"PostgreSQL ledger {self.description}: submission {intake} is durable "
                        f"but was not chained within {WAIT_S:.0f} s (is a sequencer stuck?); "
                        "it will be chained, do not resend it",
                    )
                self._listen(conn, POLL_S)
                # Silent for POLL_S: the holder may have died, its session and its turn
                # ending with it. (A live one announces every batch and, handing over,
                # looks at the queue again, so this is only for the dead.)
                turn = not self._heard and self._try_turn(conn, after_commit=True)
            outcome = self._outcome
        finally:
            self._awaiting = None
        if isinstance(outcome, int):
            return outcome
        with conn.transaction(), conn.cursor() as cur:
            refusal = take_refusal(_PostgresTx(cur), intake)
        raise (
            refusal
            or outcome
            or RacsError(
                ERR_STORAGE, f"PostgreSQL ledger {self.description}: submission {intake} refused"
            )
        )

    def _listen(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        """Read announcements until the awaited submission's or ``timeout`` seconds pass."""
        end = time.monotonic() + timeout
        while not self._heard:
            left = end - time.monotonic()
            if left <= 0:
                return
            for notify in conn.notifies(timeout=left, stop_after=1):
                if notify.channel == self._channel:
                    for intake, first in announced(notify.payload):
                        self._learn(intake, first)

    def _await_unchained(self, conn: psycopg.Connection[Any]) -> None:
        """Wait until this connection's unwaited submissions have left the queue."""
        deadline = time.monotonic() + WAIT_S
        while True:
            rows = conn.execute(
                "SELECT id FROM ledger_intake WHERE id = ANY(%s)", (list(self._unchained),)
            ).fetchall()
            self._unchained = {row[0] for row in rows}
            if not self._unchained:
                return
            if self._try_turn(conn):
                self._sequence(conn)
            elif time.monotonic() > deadline:
                raise RacsError(
                    ERR_STORAGE,
                    f"PostgreSQL ledger {self.description}: {len(self._unchained)} durable "
                    f"submission(s) not chained within {WAIT_S:.0f} s (is a sequencer stuck?)",
                )
            else:
                time.sleep(0.001)

    def seal_pending(self) -> int:
        with self._lock, self._translated():
            conn = self._connection()
            if not self._try_turn(conn):
                return 0
            return self._sequence(conn, drain=True)[1]

    def pending(self, tx: Tx) -> int:
        return int(tx.rows(PENDING_EVENTS)[0][0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with self._translated():
                    conn.close()


# After handing the turn over: take it back if the queue is not empty. A separate statement
# from the unlock, so its snapshot includes every submission committed before the unlock.
_RECHECK: Final = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM ledger_intake) "
    "THEN pg_try_advisory_lock(%s) ELSE false END"
)


_ARRAY_TABLES: Final = ("events", "runs", "cache_usage")
_COLUMN_TYPES: Final = """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest(%s::text[]) t)
      AND a.attnum > 0 AND NOT a.attisdropped"""
# psycopg dumps a list as an array of one type: numbers are made uniform first.
_UNIFORM: Final[dict[str, Callable[[Any], Any]]] = {
    "bigint": int,
    "integer": int,
    "smallint": int,
    "double precision": float,
}


@lru_cache(maxsize=64)
def _unnest_insert(table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    # Binary parameters: psycopg escapes text arrays element by element in Python.
    arrays = ", ".join(f"%b::{type_}[]" for type_ in types)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


def _arrays(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], types: Mapping[str, str]
) -> list[list[Any]]:
    """The rows as one list per column, each of a single Python type."""
    arrays = []
    for column, values in zip(columns, zip(*rows, strict=True), strict=True):
        uniform = _UNIFORM.get(types[column])
        arrays.append(
            list(values) if uniform is None else [None if v is None else uniform(v) for v in values]
        )
    return arrays


def _pg_literal(sql: str) -> str:
    # INTAKE_INSERT with composable placeholders, its values sent as literals so that the
    # LISTEN can travel in the same simple-protocol query.
    return sql.replace("?", "{}")


def _redacted(url: str) -> str:
    """The URL without its password, fit for error messages."""
    try:
        info = conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparseable URL>"
    info.pop("password", None)
    return conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})
