"""The PostgreSQL backend, for ledgers shared by many hosts.

The ledger lives in the connection's current schema (choose one with
``?options=-csearch_path%3Dmy_schema`` in the URL; it is created if missing). Chain appends
are serialized by a transaction-scoped advisory lock keyed on that schema, so the chain
head is read and extended by one writer at a time. A commit is durable as PostgreSQL's
own ``synchronous_commit`` makes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg import conninfo
from psycopg import sql as pg_sql

from racs.errors import ERR_CLOSED, ERR_CONFLICT, ERR_STORAGE, RacsError
from racs.ledger.backend import Backend, Row, T, Tx

_LOCK_NAMESPACE: Final = "racs.ledger:"
# COPY costs extra round trips; a pipelined INSERT wins until a batch has this many rows.
_COPY_FROM: Final = 64


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

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
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
            conn = psycopg.connect(self._url, autocommit=True)
            try:
                self._lock_key = self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    @staticmethod
    def _prepare(conn: psycopg.Connection[Any]) -> int:
        """Create the search path's schema if missing; the advisory lock key of the schema."""
        schemas = conn.execute("SELECT current_schemas(false)").fetchone()
        search_path = conn.execute("SHOW search_path").fetchone()
        if schemas is not None and not schemas[0] and search_path is not None:
            first = search_path[0].split(",")[0].strip().strip('"')
            conn.execute(
                pg_sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg_sql.Identifier(first))
            )
        key = conn.execute("SELECT hashtext(%s || current_schema())", (_LOCK_NAMESPACE,)).fetchone()
        return int(key[0]) if key is not None and key[0] is not None else 0

    def write(self, fn: Callable[[Tx], T]) -> T:
        with self._lock, self._translated():
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                return fn(_PostgresTx(cur))

    def read(self, fn: Callable[[Tx], T]) -> T:
        with self._lock, self._translated():
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return fn(_PostgresTx(cur))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with self._translated():
                    conn.close()


def _redacted(url: str) -> str:
    """The URL without its password, fit for error messages."""
    try:
        info = conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparseable URL>"
    info.pop("password", None)
    return conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})
