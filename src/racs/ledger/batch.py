"""A batch: calls gathered and appended as one transaction, all of them or none."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from racs.core.errors import ERR_CLOSED, RacsError
from racs.ledger.events import PendingEvent
from racs.ledger.ids import UlidFactory
from racs.ledger.recorder import Recorder


class Batch(Recorder[None]):
    """Calls gathered and appended as one transaction: all of them or none.

    Input is validated at each call; run rules (unknown or ended runs) are checked at
    commit, where any violation raises and nothing of the batch is written. Use it as a
    context manager (committed on a clean exit, dropped on an exception). Not meant to be
    shared between threads.
    """

    def __init__(
        self,
        append: Callable[[Sequence[PendingEvent]], list[int]],
        clock: Callable[[], int],
        ids: UlidFactory,
    ) -> None:
        """``append`` writes events in one transaction and returns their positions; the
        clock and the id factory are the ledger's (``Ledger.batch()`` passes them)."""
        self._append = append
        self._clock = clock
        self._ids = ids
        self._events: list[PendingEvent] = []
        self._done = False
        self.positions: tuple[int, ...] = ()
        """The positions of the appended events, once committed."""

    def _submit(self, event: PendingEvent) -> None:
        if self._done:
            raise RacsError(ERR_CLOSED, "this batch was already committed or discarded")
        self._events.append(event)

    def __len__(self) -> int:
        return len(self._events)

    def commit(self) -> tuple[int, ...]:
        """Append every gathered event in one transaction; returns their positions."""
        if self._done:
            raise RacsError(ERR_CLOSED, "this batch was already committed or discarded")
        self._done = True
        pending, self._events = self._events, []
        if pending:
            self.positions = tuple(self._append(pending))
        return self.positions

    def discard(self) -> None:
        """Drop the gathered events without writing anything."""
        self._done = True
        self._events = []

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
