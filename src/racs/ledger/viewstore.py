"""The dashboard's own connection to the ledger's database, and paging through its requests.

A reader of ``racs.ledger.views``'s tables opens its connections here: read-only
transactions at one snapshot (PostgreSQL: repeatable read), writes for the fold.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from racs.core.errors import ERR_STORAGE, RacsError
from racs.core.targets import ledger_target
from racs.ledger.backend import Row, Tx
from racs.ledger.views import Scope, requests_of

T = TypeVar("T")

# --- a connection of its own --------------------------------------------------------------


class _Tx:
    """``Tx`` over a sqlite3 connection or a psycopg cursor already in a transaction."""

    def __init__(self, handle: Any, dialect: str) -> None:
        self._handle = handle
        self.dialect = dialect
        self.memo: dict[str, Any] = {}

    def _sql(self, sql: str) -> str:
        # The SQL here uses "?" placeholders and never contains "%".
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._handle.execute(self._sql(sql), tuple(params))
        return list(cur.fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._handle.execute(self._sql(sql), tuple(params))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._handle.executemany(self._sql(sql), rows)

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        self.run_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def any_of(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        if self.dialect == "sqlite":
            return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))
        return f"{column} = ANY(?)", list(values)


class ViewStore:
    """A connection to the ledger's database for the dashboard alone.

    Its reads never wait behind the ledger's appends (SQLite's WAL readers, PostgreSQL's
    snapshots), and its writes (the fold) never take the ledger's sequencer lock: on
    PostgreSQL concurrent folders (replicas) queue on the ``traffic_fold`` row instead.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.dialect = ledger_target(target).kind
        self._lock = threading.Lock()
        self._conn: Any = None
        self._connect()

    def _connect(self) -> None:
        if self.dialect == "sqlite":
            conn = sqlite3.connect(
                self.target, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            conn.execute("PRAGMA busy_timeout=5000")
            # A small page cache: the panels read small roll-ups, and memory is budgeted.
            conn.execute("PRAGMA cache_size=-8192")
            self._conn = conn
        else:
            import psycopg

            self._conn = psycopg.connect(self.target, autocommit=True)

    def _tx(self, cur: Any) -> Tx:
        return _Tx(self._conn if cur is None else cur, self.dialect)

    def read(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a read-only snapshot."""
        return self._run(fn, write=False)

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction."""
        return self._run(fn, write=True)

    def _run(self, fn: Callable[[Tx], T], *, write: bool) -> T:
        with self._lock:
            try:
                if self.dialect == "sqlite":
                    return self._sqlite(fn, write)
                return self._postgres(fn, write)
            except (sqlite3.Error, RacsError) as exc:
                if isinstance(exc, RacsError):
                    raise
                raise RacsError(ERR_STORAGE, f"dashboard tables: {exc}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    self._reconnect()
                    raise RacsError(ERR_STORAGE, f"dashboard tables: {exc}") from exc
                raise

    def _sqlite(self, fn: Callable[[Tx], T], write: bool) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = fn(self._tx(None))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _postgres(self, fn: Callable[[Tx], T], write: bool) -> T:
        conn = self._conn
        if conn.closed or conn.broken:
            self._reconnect()
            conn = self._conn
        with conn.transaction(), conn.cursor() as cur:
            if not write:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return fn(self._tx(cur))

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection may fail to close
            self._conn.close()
        self._connect()

    def close(self) -> None:
        """Release the connection; idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _page(tx: Tx, *, scope: Scope, after: int, size: int) -> list[Row]:
    return requests_of(tx, scope, after, size)


def pages(store: ViewStore, scope: Scope, size: int = 5000) -> Iterator[list[Row]]:
    """Every request row in the scope, a page at a time, in reader order."""
    after = -1
    while True:
        rows = store.read(functools.partial(_page, scope=scope, after=after, size=size))
        if not rows:
            return
        yield rows
        after = int(rows[-1][0])
