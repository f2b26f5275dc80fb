"""The public ledger: lifecycle calls, batches, queries, statistics, verification.

``create_ledger()`` (``racs.ledger.factory``) opens a ledger; ``Ledger`` is thread-safe
and a context manager. Every call validates its input completely before anything is
written; rules that depend on stored state are checked inside the write transaction, so a
refused call leaves the ledger untouched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

from racs.core.errors import ERR_CONFLICT, ERR_STORAGE, RacsError, invalid
from racs.core.prices import PriceBook, price_book
from racs.ledger import events as ev
from racs.ledger import store
from racs.ledger import validate as v
from racs.ledger.anchor import Anchor, make_anchor
from racs.ledger.audit import verify_evidence
from racs.ledger.backend import Backend, Tx
from racs.ledger.batch import Batch
from racs.ledger.filters import RunFilter, with_run_filters
from racs.ledger.ids import UlidFactory
from racs.ledger.migrations import migrate
from racs.ledger.model import (
    CacheUsageTotal,
    Event,
    Instant,
    Run,
    RunPage,
    UsageStats,
    VerifyResult,
)
from racs.ledger.payloads import iter_events
from racs.ledger.recorder import Recorder
from racs.ledger.stats import UsageFilter, cache_usage_totals, usage_stats

MAX_PAGE: Final = 1000
MAX_EVENTS: Final = 10_000


def _wall_clock() -> int:
    return time.time_ns() // 1_000_000


class Ledger(Recorder[int]):
    """An append-only event store of agent runs with its run projection.

    Each lifecycle or record call appends one event (returning its global position) in
    its own transaction; ``batch()`` groups many. Thread-safe.
    """

    def __init__(self, backend: Backend, clock: Callable[[], int] | None = None) -> None:
        self._backend = backend
        self._clock = clock or _wall_clock
        self._ids = UlidFactory()
        try:
            now = self._now()
            self.schema_version = backend.write(lambda tx: migrate(tx, now))
        except BaseException:
            backend.close()
            raise

    @property
    def location(self) -> str:
        """The file path or the (password-free) URL of this ledger."""
        return self._backend.description

    def _append(self, pending: Sequence[ev.PendingEvent]) -> list[int]:
        positions = self._backend.append(pending)
        if positions is None:  # only when not waiting; kept for the type checker
            raise RacsError(ERR_STORAGE, f"the ledger {self.location} returned no positions")
        return positions

    def _submit(self, event: ev.PendingEvent) -> int:
        return self._append([event])[0]

    def _start(self, event: ev.PendingEvent, *, chosen_id: bool) -> None:
        # A start returns the run id, not a position: once durable it need not wait to be
        # chained, unless a run id chosen by the caller (or derived from an idempotency
        # key) may already exist.
        self._backend.append([event], wait=chosen_id)

    def _replayed(self, run_id: str, event: ev.PendingEvent) -> None:
        run = self.get_run(run_id)
        if run is None:  # pragma: no cover - a conflict names a run that exists
            raise RacsError(ERR_CONFLICT, f"run {run_id!r} could not be started")
        p = event.payload
        same = (
            run.workspace_id == p["workspace_id"]
            and run.agent_id == p["agent_id"]
            and run.provider == p["provider"]
            and run.model == p["model"]
            and run.auth_type == p["auth_type"]
            and run.execution_mode == p["execution_mode"]
            and run.compliance_mode == p["compliance_mode"]
            and run.prefix_key == p.get("prefix_key")
            and run.plan_id == p.get("plan_id")
        )
        if not same:
            raise RacsError(
                ERR_CONFLICT,
                f"idempotency key {p['idempotency_key']!r} already started run {run_id!r} "
                "with different fields",
            )

    def batch(self) -> Batch:
        """A batch of calls appended as one transaction (use ``with ledger.batch() as b:``)."""
        return Batch(self._append, self._clock, self._ids)

    # Queries -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        """The run, or None when the ledger has no such run."""
        rid = v.identifier("run_id", run_id)
        return self._backend.read(lambda tx: store.get_run(tx, rid))

    @with_run_filters
    def query_runs(
        self, where: RunFilter, /, *, limit: int = 100, cursor: str | None = None
    ) -> RunPage:
        """Runs matching every filter (``RunFilter``'s fields, as keywords), newest first;
        ``since``/``until`` bound the start time.

        Pass the page's ``next_cursor`` back as ``cursor`` for the next page (None at the end).
        """
        size = v.limit("limit", limit, MAX_PAGE)
        if cursor is not None:
            store.decode_cursor(v.text("cursor", cursor))
        return self._backend.read(lambda tx: store.query_runs(tx, where, size, cursor))

    @with_run_filters
    def count_runs(self, where: RunFilter, /) -> int:
        """How many runs match the filters of ``query_runs``."""
        return self._backend.read(lambda tx: store.count_runs(tx, where))

    def get_run_events(self, run_id: str) -> tuple[Event, ...]:
        """The run's events in order (empty when there is no such run)."""
        rid = v.identifier("run_id", run_id)
        return self._backend.read(lambda tx: store.run_events(tx, rid))

    def query_events(
        self,
        *,
        type: str | None = None,
        run_id: str | None = None,
        after_position: int | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 1000,
    ) -> tuple[Event, ...]:
        """Events in position order after ``after_position``, filtered by type, run and time."""
        type_ = v.optional_text("type", type)
        rid = None if run_id is None else v.identifier("run_id", run_id)
        after = None if after_position is None else v.count("after_position", after_position)
        lo, hi = v.window(since, until)
        size = v.limit("limit", limit, MAX_EVENTS)
        return self._backend.read(
            lambda tx: store.query_events(
                tx, type_=type_, run_id=rid, after_position=after, since=lo, until=hi, limit=size
            )
        )

    def iter_events(
        self,
        *,
        type: str | None = None,
        run_id: str | None = None,
        after_position: int | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int | None = None,
        page: int = 1000,
    ) -> Iterator[Event]:
        """Matching events in position order, read page by page (every one without a limit)."""
        return iter_events(
            self,
            type=type,
            run_id=run_id,
            after_position=after_position,
            since=since,
            until=until,
            limit=limit,
            page=page,
        )

    def get_usage_stats(
        self,
        workspace_id: str | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        *,
        pricing: Mapping[str, Any] | PriceBook | None = None,
    ) -> UsageStats:
        """Usage statistics of the runs started in the window (see ``UsageStats``).

        ``pricing`` maps a model to its USD-per-million-token prices (``inputPerMTok``,
        ``cacheReadPerMTok``, ``cacheWrite5mPerMTok``, ``cacheWrite30mPerMTok``,
        ``cacheWrite1hPerMTok``, either spelling) or is a ``racs.core.prices.PriceBook``. Saved,
        cache-write and net USD follow ``racs.core.accounting``'s rule; a model without a card
        is priced from the bundled price database when the ``prices`` extra is installed,
        else it stays token-only.
        """
        ws = None if workspace_id is None else v.identifier("workspace_id", workspace_id)
        lo, hi = v.window(since, until)
        prices = price_book(pricing)
        return self._backend.read(lambda tx: usage_stats(tx, ws, lo, hi, prices))

    def cache_usage_totals(
        self,
        *,
        since: Instant | None = None,
        until: Instant | None = None,
        agent_id: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        prefix_key: str | None = None,
        workspace_id: str | None = None,
        by_day: bool = False,
    ) -> list[CacheUsageTotal]:
        """Sums of ``cache.usage`` records per group key, sorted by group key.

        The group key is the record's prefix key, else ``provider:model``; the window
        filters on the usage timestamp. ``by_day`` splits each group by UTC day
        (``day_start``), sorted by group key then day.
        """
        lo, hi = v.window(since, until)
        usage_filter = UsageFilter(
            since=lo,
            until=hi,
            agent_id=None if agent_id is None else v.identifier("agent_id", agent_id),
            model=None if model is None else v.identifier("model", model),
            provider=None if provider is None else v.identifier("provider", provider),
            prefix_key=None if prefix_key is None else v.identifier("prefix_key", prefix_key),
            workspace_id=None
            if workspace_id is None
            else v.identifier("workspace_id", workspace_id),
            by_day=bool(by_day),
        )
        return self._backend.read(lambda tx: cache_usage_totals(tx, usage_filter))

    # Integrity -----------------------------------------------------------------------

    def verify(self, anchors: Iterable[Anchor] = ()) -> VerifyResult:
        """Check the ledger's evidence; report the first thing that does not match.

        In order: the hash chain over every event (and the run links), the storage (SQLite's
        integrity check) and the append-only guard, each of ``anchors`` (the ledger must
        still extend it: see ``racs.ledger.anchor``), and the projections, replayed from
        the events and compared row by row. All in one consistent snapshot, which also
        counts as ``pending`` the events acknowledged but not yet chained (PostgreSQL's
        intake queue): durable, and chained by the next batch, but not yet covered.
        """
        wanted = tuple(anchors)
        for anchor in wanted:
            if not isinstance(anchor, Anchor):
                raise invalid(f"anchors must be Anchor values, got {type(anchor).__name__}")
        backend = self._backend

        def check(tx: Tx) -> VerifyResult:
            result = verify_evidence(tx, wanted)
            waiting = backend.pending(tx)
            return dataclasses.replace(result, pending=waiting) if waiting else result

        return backend.read(check)

    def chain_status(self) -> tuple[int, int]:
        """(position of the chain's head, events acknowledged but not yet chained): two
        index lookups, cheap enough for a metrics scrape (``verify`` walks everything)."""
        backend = self._backend
        return backend.read(lambda tx: (store.chain_head(tx)[0], backend.pending(tx)))

    def seal_pending(self) -> int:
        """Chain the events other writers acknowledged but left unchained (a writer died
        before its sequencer turn); returns how many this call chained.

        Any append does this too. 0 when another sequencer holds the turn, and always on
        SQLite, where every append is chained at once.
        """
        return self._backend.seal_pending()

    def anchor(self, key: bytes | None = None) -> Anchor:
        """The head of a verified chain as an anchor to keep elsewhere (HMAC with ``key``).

        Raises ERR_CONFLICT, anchoring nothing, when the chain does not verify or the
        ledger is empty.
        """
        now = self._now()
        result = self._backend.read(store.verify)
        if not result.ok:
            raise RacsError(
                ERR_CONFLICT,
                f"the ledger does not verify (position {result.first_bad_position}: "
                f"{result.reason}); refusing to anchor it",
            )
        if not result.checked or result.head_hash is None:
            raise RacsError(ERR_CONFLICT, "the ledger is empty: there is no head to anchor")
        return make_anchor(result.checked, result.head_hash, now, key)

    def rebuild(self) -> int:
        """Recreate every projection from the events alone, in one transaction.

        Returns how many events were replayed.
        """
        return self._backend.write(store.rebuild)

    # Lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Release the storage; idempotent. Any later call raises ERR_CLOSED."""
        self._backend.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
