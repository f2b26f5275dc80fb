"""The SQLite backend: one file, WAL, many threads and processes appending at once.

Durability: WAL with ``synchronous=NORMAL``. A transaction that returned is in the WAL
file, so killing the process (even with SIGKILL) loses nothing; a power cut may lose the
last transactions before the next checkpoint, which this ledger accepts in exchange for
not syncing the disk on every commit. The WAL is checkpointed back into the database
every ``WAL_CHECKPOINT_PAGES`` pages (64 MB) rather than SQLite's default 4 MB: the pages
single calls keep rewriting (the ends of the indexes) are then copied back once per
thousand runs or so instead of every hundred, at the price of a larger ``-wal`` file.

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

from racs.core.errors import ERR_CLOSED, ERR_CONFLICT, ERR_STORAGE, RacsError
from racs.core.files import make_private_dirs
from racs.ledger import store
from racs.ledger.backend import Backend, Row, T, Tx
from racs.ledger.events import PendingEvent

BUSY_TIMEOUT_S: Final = 5.0
BUSY_DEADLINE_S: Final = 300.0
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
WAL_CHECKPOINT_PAGES: Final = 16_000
_BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
_DUPLICATE_CODES: Final = frozenset(
    {sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE}
)


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
        try:
            # Single calls write one row per table: execute skips executemany's setup.
            if len(rows) == 1:
                self._conn.execute(sql, rows[0])
            else:
                self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _DUPLICATE_CODES:
                raise RacsError(ERR_CONFLICT, f"duplicate key: {exc}") from exc
            raise

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
            make_private_dirs(Path(self.path).parent)
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
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        # A WAL that grew past the checkpoint size (a long read held it open) is cut back.
        conn.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4200}")

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

    def _attempt(self, conn: sqlite3.Connection, begin: str, fn: Callable[[Tx], T]) -> T:
        conn.execute(begin)
        try:
            # The memo is vouched for only inside a write transaction (see Tx.memo).
            memo = self._current_memo(conn) if begin == _BEGIN_WRITE else {}
            result = fn(_SqliteTx(conn, memo))
            conn.execute("COMMIT")
        except BaseException:
            # fn may have updated the memo before failing: forget it all.
            self._memo.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _transaction(self, begin: str, fn: Callable[[Tx], T]) -> T:
        # Written out rather than through _translated and closures: every single call of
        # the ledger passes here, and the first attempt almost always succeeds.
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RacsError(ERR_CLOSED, f"the ledger {self.path} is closed")
            try:
                try:
                    return self._attempt(conn, begin, fn)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                return self._retrying(lambda: self._attempt(conn, begin, fn))
            except sqlite3.Error as exc:
                raise RacsError(ERR_STORAGE, f"SQLite ledger {self.path}: {exc}") from exc

    def _current_memo(self, conn: sqlite3.Connection) -> dict[str, Any]:
        # Read under the write lock, data_version moves exactly when another connection
        # (thread, process, raw tool) committed since our last transaction.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._memo.clear()
            self._data_version = version
        return self._memo

    def write(self, fn: Callable[[Tx], T]) -> T:
        return self._transaction(_BEGIN_WRITE, fn)

    def append(self, events: Sequence[PendingEvent], *, wait: bool = True) -> list[int]:
        # Every append is chained in its own transaction: there is never anything to wait for.
        return self._transaction(_BEGIN_WRITE, lambda tx: store.append(tx, events))

    def read(self, fn: Callable[[Tx], T]) -> T:
        return self._transaction("BEGIN", fn)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._memo.clear()
            if conn is not None:
                with self._translated():
                    conn.close()
