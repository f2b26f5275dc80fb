"""What a storage backend offers the ledger: transactions over a small SQL surface.

The ledger's logic (append, projection, queries, verification) is written once against
``Tx``; SQLite and PostgreSQL each supply transactions, and each translates its driver's
errors into ``RacsError`` at the single point where it runs one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from racs.ledger.events import PendingEvent

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction. SQL uses ``?`` placeholders whatever the backend."""

    dialect: str
    memo: dict[str, Any]
    """What the ledger remembers between this connection's write transactions (the chain
    head, open runs). The backend empties it whenever it cannot vouch that nothing else
    wrote since: another connection committed, a transaction failed, or it cannot tell
    (PostgreSQL, read transactions). A write transaction may update it in place."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query and return all its rows."""
        ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement."""
        ...

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per parameter row."""
        ...

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert rows as fast as the backend can (COPY on PostgreSQL)."""
        ...

    def any_of(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        """A condition ``column`` is one of ``values``, and the one parameter it takes."""
        ...


class Backend(ABC):
    """A ledger store: serialized write transactions and snapshot reads."""

    dialect: str
    description: str

    @abstractmethod
    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction that excludes every other writer; commit on return.

        ``fn`` may run more than once (a busy database is retried), so it must not have
        effects outside the transaction.
        """

    @abstractmethod
    def append(self, events: Sequence[PendingEvent], *, wait: bool = True) -> list[int] | None:
        """Append ``events`` all or nothing and return their positions.

        Refusals (unknown run, run ended, ...) raise and write nothing. With ``wait=False``
        a backend whose writers queue their events may return None as soon as they are
        durable, before they are chained; reads through this backend still see them.
        """

    def seal_pending(self) -> int:
        """Chain the events acknowledged but not yet chained; how many this call chained.

        0 where every append is chained in its own transaction (SQLite).
        """
        return 0

    def pending(self, tx: Tx) -> int:
        """How many acknowledged events ``tx`` sees waiting to be chained."""
        return 0

    @abstractmethod
    def read(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a read-only transaction seeing one consistent snapshot."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; idempotent. Later calls raise ERR_CLOSED."""
