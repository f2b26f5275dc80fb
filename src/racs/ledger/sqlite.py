"""The SQLite backend: one file, WAL, many threads and processes appending at once.

Durability: WAL with ``synchronous=NORMAL``. A transaction that returned is in the WAL
file, so killing the process (even with SIGKILL) loses nothing; a power cut may lose the
last transactions before the next checkpoint, which this ledger accepts in exchange for
not syncing the disk on every commit.

Concurrency: every write runs under ``BEGIN IMMEDIATE`` (the chain head is read inside
it, so concurrent writers serialize cleanly), SQLite's busy timeout waits for the lock,
and a busy error that still escapes is retried until ``BUSY_DEADLINE_S``, so "database
is locked" never reaches a caller. Within a process one connection serves all threads
behind a lock.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from racs.errors import ERR_CLOSED, ERR_STORAGE, RacsError
from racs.ledger.backend import Backend, Row, T, Tx

BUSY_TIMEOUT_S: Final = 5.0
BUSY_DEADLINE_S: Final = 300.0
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    # The same text every time, so sqlite3's statement cache reuses the prepared statement.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class _SqliteTx:
    """``Tx`` over a sqlite3 connection already inside a transaction."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, memo: dict[str, Any]) -> None:
        self._conn = conn
        self.memo = memo

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, params)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # Single calls write one row per table: execute skips executemany's iterator setup.
        if len(rows) == 1:
            self._conn.execute(sql, rows[0])
        else:
            self._conn.executemany(sql, rows)

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.run_many(_insert_sql(table, tuple(columns)), rows)

    def any_of(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        # One JSON array parameter keeps the statement text (and its cached plan) fixed.
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


class SqliteBackend(Backend):
    """A ledger in one SQLite file (created, with its parent directories, if missing)."""

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.description = self.path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # See Tx.memo: kept while PRAGMA data_version shows no other connection committed.
        self._memo: dict[str, Any] = {}
        self._data_version: int | None = None
        with self._translated():
            self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        memory = self.path == ":memory:" or self.path.startswith("file:")
        fresh = not memory and not os.path.exists(self.path)
        if fresh:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
            uri=self.path.startswith("file:"),
        )
        if fresh:
            os.chmod(self.path, 0o600)  # runs and their metadata are the owner's business
        try:
            self._retrying(lambda: self._configure(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-32768")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        # The one place where sqlite3 errors become RacsError.
        try:
            yield
        except sqlite3.Error as exc:
            raise RacsError(ERR_STORAGE, f"SQLite ledger {self.path}: {exc}") from exc

    def _retrying(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + BUSY_DEADLINE_S
        pause = 0.001
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause * (1 + random.random()))
            pause = min(pause * 2, 0.05)

    def _transaction(self, begin: str, fn: Callable[[Tx], T], writing: bool) -> T:
        with self._lock, self._translated():
            conn = self._conn
            if conn is None:
                raise RacsError(ERR_CLOSED, f"the ledger {self.path} is closed")

            def attempt() -> T:
                conn.execute(begin)
                try:
                    memo = self._current_memo(conn) if writing else {}
                    result = fn(_SqliteTx(conn, memo))
                    conn.execute("COMMIT")
                except BaseException:
                    # fn may have updated the memo before failing: forget it all.
                    self._memo.clear()
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result

            return self._retrying(attempt)

    def _current_memo(self, conn: sqlite3.Connection) -> dict[str, Any]:
        # Read under the write lock, data_version moves exactly when another connection
        # (thread, process, raw tool) committed since our last transaction.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._memo.clear()
            self._data_version = version
        return self._memo

    def write(self, fn: Callable[[Tx], T]) -> T:
        return self._transaction("BEGIN IMMEDIATE", fn, writing=True)

    def read(self, fn: Callable[[Tx], T]) -> T:
        return self._transaction("BEGIN", fn, writing=False)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._memo.clear()
            if conn is not None:
                with self._translated():
                    conn.close()
