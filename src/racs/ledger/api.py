"""The public ledger: lifecycle calls, batches, queries, statistics, verification.

``create_ledger()`` opens (creating and migrating) a ledger; ``Ledger`` is thread-safe and
a context manager. Every call validates its input completely before anything is written;
rules that depend on stored state are checked inside the write transaction, so a refused
call leaves the ledger untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, TypeVar

from racs.core.errors import ERR_CLOSED, ERR_CONFLICT, ERR_STORAGE, RacsError, invalid
from racs.core.prices import PriceBook, price_book
from racs.ledger import events as ev
from racs.ledger import store
from racs.ledger import validate as v
from racs.ledger.anchor import Anchor, make_anchor
from racs.ledger.audit import verify_evidence
from racs.ledger.backend import Backend, Tx
from racs.ledger.ids import UlidFactory
from racs.ledger.migrations import migrate
from racs.ledger.model import (
    AUTH_TYPES,
    EXECUTION_MODES,
    RUN_AUTH_VALIDATED,
    RUN_PROVIDER_CALLED,
    RUN_RETRIED,
    RUN_ROUTED,
    RUN_STATUSES,
    CacheUsageTotal,
    Event,
    Run,
    RunPage,
    UsageStats,
    VerifyResult,
)
from racs.ledger.payloads import iter_events
from racs.ledger.seed import COMPLETE_DEFAULTS, START_DEFAULTS, seed_options
from racs.ledger.stats import UsageFilter, cache_usage_totals, usage_stats

Instant = int | datetime | date | str
"""A moment: ms since the epoch, a datetime (naive = UTC), a date or an ISO string."""

ENV_VAR: Final = "RACS_LEDGER"
MAX_PAGE: Final = 1000
MAX_EVENTS: Final = 10_000

R = TypeVar("R", int, None)


def default_ledger_path() -> Path:
    """``~/.racs/ledger.db``, the ledger used when no path, URL or RACS_LEDGER is given."""
    return Path.home() / ".racs" / "ledger.db"


def get_default_ledger_path() -> str:
    """``default_ledger_path()`` as a string, under the @relayplane/ledger seed's name."""
    return str(default_ledger_path())


def _wall_clock() -> int:
    return time.time_ns() // 1_000_000


class _Recorder(Generic[R]):
    """The lifecycle and record calls, shared by ``Ledger`` (returns positions) and ``Batch``."""

    _clock: Callable[[], int]
    _ids: UlidFactory

    def _submit(self, event: ev.PendingEvent) -> R:
        raise NotImplementedError

    def _start(self, event: ev.PendingEvent, *, chosen_id: bool) -> None:
        # A generated run id cannot collide, so its start has nothing to report back.
        self._submit(event)

    def _now(self) -> int:
        now = self._clock()
        if type(now) is int:
            return now
        if isinstance(now, bool) or not isinstance(now, int | float):
            raise invalid(f"the ledger clock must return ms since the epoch, got {now!r}")
        return int(now)

    def start_run(
        self,
        options: Mapping[str, Any] | None = None,
        /,
        *,
        workspace_id: str | None = None,
        agent_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        auth_type: str = "api",
        execution_mode: str = "interactive",
        compliance_mode: str = "recommended",
        policy_override: bool = False,
        metadata: Mapping[str, Any] | None = None,
        prefix_key: str | None = None,
        plan_id: str | None = None,
        run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Start a run and return its id (a ULID unless ``run_id`` is given).

        The fields come as keywords or, in the @relayplane/ledger seed's style, as one
        mapping ``start_run({"workspace_id": ..., ...})`` (snake_case or camelCase keys);
        ``workspace_id``, ``agent_id``, ``provider`` and ``model`` are required either way.

        With ``idempotency_key`` (unique per workspace) a retried call returns the run the
        first call started instead of starting another; the run id is then derived from
        the workspace and the key (see ``idempotent_run_id``). Reusing a key for a run with
        different fields is ERR_CONFLICT. In a batch, a key already used fails the commit.
        """
        if options is not None:
            given = {
                "workspace_id": workspace_id,
                "agent_id": agent_id,
                "provider": provider,
                "model": model,
                "auth_type": auth_type,
                "execution_mode": execution_mode,
                "compliance_mode": compliance_mode,
                "policy_override": policy_override,
                "metadata": metadata,
                "prefix_key": prefix_key,
                "plan_id": plan_id,
                "run_id": run_id,
                "idempotency_key": idempotency_key,
            }
            return self.start_run(**seed_options("start_run", options, given, START_DEFAULTS))
        required = {"workspace_id": workspace_id, "agent_id": agent_id}
        required.update(provider=provider, model=model)
        missing = [name for name, value in required.items() if value is None]
        if missing:
            raise invalid(f"start_run: missing required field(s): {', '.join(missing)}")
        now = self._now()
        if idempotency_key is not None:
            if run_id is not None:
                raise invalid("give run_id or idempotency_key, not both")
            rid = idempotent_run_id(
                v.identifier("workspace_id", workspace_id),
                v.identifier("idempotency_key", idempotency_key),
            )
        else:
            rid = self._ids.new(now) if run_id is None else v.identifier("run_id", run_id)
        event = ev.run_started(
            rid,
            now,
            workspace_id=workspace_id,
            agent_id=agent_id,
            provider=provider,
            model=model,
            auth_type=auth_type,
            execution_mode=execution_mode,
            compliance_mode=compliance_mode,
            policy_override=policy_override,
            metadata=metadata,
            prefix_key=prefix_key,
            plan_id=plan_id,
            idempotency_key=idempotency_key,
        )
        try:
            self._start(event, chosen_id=run_id is not None or idempotency_key is not None)
        except RacsError as exc:
            if idempotency_key is None or exc.code != ERR_CONFLICT:
                raise
            self._replayed(rid, event)
        return rid

    def _replayed(self, run_id: str, event: ev.PendingEvent) -> None:
        """Accept a start whose idempotency key already started ``run_id``, or raise."""
        raise RacsError(ERR_CONFLICT, f"run {run_id!r} already exists")

    def complete_run(
        self,
        run_id: str,
        options: Mapping[str, Any] | None = None,
        /,
        *,
        status: str = "completed",
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        total_tokens: int | None = None,
        cost_usd: float | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens_5m: int | None = None,
        cache_write_tokens_30m: int | None = None,
        cache_write_tokens_1h: int | None = None,
        error: Mapping[str, str] | BaseException | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> R:
        """End a run as ``completed`` or ``failed`` (with ``error`` code and message).

        ``cache_write_tokens_30m`` counts cache writes billed on the 30-minute tier (OpenAI).
        The fields may also come as one mapping, ``complete_run(run_id, {...})`` (the seed's
        style).
        """
        metrics = {
            "latency_ms": latency_ms,
            "ttft_ms": ttft_ms,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": total_tokens,
            "cost_usd": cost_usd,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens_5m": cache_write_tokens_5m,
            "cache_write_tokens_30m": cache_write_tokens_30m,
            "cache_write_tokens_1h": cache_write_tokens_1h,
        }
        if options is not None:
            given = {"status": status, **metrics, "error": error, "metadata": metadata}
            fields = seed_options("complete_run", options, given, COMPLETE_DEFAULTS)
            return self.complete_run(run_id, **fields)
        return self._submit(
            ev.run_ended(
                run_id, self._now(), status=status, metrics=metrics, error=error, metadata=metadata
            )
        )

    def cancel_run(self, run_id: str, reason: str | None = None) -> R:
        """End a run as ``cancelled``."""
        return self._submit(ev.run_cancelled(run_id, self._now(), reason))

    def record_auth_validation(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record the result of the run's auth check."""
        return self._submit(ev.run_record(RUN_AUTH_VALIDATED, run_id, self._now(), payload))

    def record_policy_evaluation(
        self, run_id: str, decisions: Sequence[Any], policy_override: bool | None = None
    ) -> R:
        """Record policy decisions; ``policy_override=True`` marks the run as overridden."""
        return self._submit(ev.policy_evaluated(run_id, self._now(), decisions, policy_override))

    def record_routing(self, run_id: str, decision: Mapping[str, Any]) -> R:
        """Record the routing decision (the run keeps the provider and model it started with)."""
        return self._submit(ev.run_record(RUN_ROUTED, run_id, self._now(), decision))

    def record_provider_call(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record a request sent to the provider (timing, status, ...)."""
        return self._submit(ev.run_record(RUN_PROVIDER_CALLED, run_id, self._now(), payload))

    def record_retry(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record a retry attempt; the run's ``retries`` counts them."""
        return self._submit(ev.run_record(RUN_RETRIED, run_id, self._now(), payload))

    def record_cache_usage(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens_5m: int = 0,
        cache_write_tokens_30m: int = 0,
        cache_write_tokens_1h: int = 0,
        timestamp: Instant | float | None = None,
        prefix_key: str | None = None,
        agent_id: str | None = None,
        workspace_id: str | None = None,
        run_id: str | None = None,
    ) -> R:
        """Append a ``cache.usage`` record (the planning engine's usage accounting).

        ``input_tokens`` is all-in (cached tokens included). ``timestamp`` is when the usage
        happened (default: now) and is what ``cache_usage_totals`` windows filter on. A
        ``run_id`` must name an existing run, which may already have ended. Cache writes are
        split by billing tier: 5 minutes, 30 minutes (OpenAI) and 1 hour.
        """
        return self._submit(
            ev.cache_usage(
                self._now(),
                provider=provider,
                model=model,
                input_tokens=input_tokens,
                cache_read_tokens=cache_read_tokens,
                cache_write_tokens_5m=cache_write_tokens_5m,
                cache_write_tokens_30m=cache_write_tokens_30m,
                cache_write_tokens_1h=cache_write_tokens_1h,
                usage_timestamp=timestamp,
                prefix_key=prefix_key,
                agent_id=agent_id,
                workspace_id=workspace_id,
                run_id=run_id,
            )
        )


class Batch(_Recorder[None]):
    """Calls gathered and appended as one transaction: all of them or none.

    Input is validated at each call; run rules (unknown or ended runs) are checked at
    commit, where any violation raises and nothing of the batch is written. Use it as a
    context manager (committed on a clean exit, dropped on an exception). Not meant to be
    shared between threads.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._clock = ledger._clock
        self._ids = ledger._ids
        self._events: list[ev.PendingEvent] = []
        self._done = False
        self.positions: tuple[int, ...] = ()
        """The positions of the appended events, once committed."""

    def _submit(self, event: ev.PendingEvent) -> None:
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
            self.positions = tuple(self._ledger._append(pending))
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


class Ledger(_Recorder[int]):
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
        return Batch(self)

    # Queries -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        """The run, or None when the ledger has no such run."""
        rid = v.identifier("run_id", run_id)
        return self._backend.read(lambda tx: store.get_run(tx, rid))

    def query_runs(
        self,
        *,
        workspace_id: str | None = None,
        agent_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str | None = None,
        auth_type: str | None = None,
        execution_mode: str | None = None,
        auth_risk: bool | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs matching every filter, newest first; ``since``/``until`` bound the start time.

        Pass the page's ``next_cursor`` back as ``cursor`` for the next page (None at the end).
        """
        filters = _run_filter(
            workspace_id,
            agent_id,
            provider,
            model,
            status,
            auth_type,
            execution_mode,
            auth_risk,
            since,
            until,
        )
        size = v.limit("limit", limit, MAX_PAGE)
        if cursor is not None:
            store.decode_cursor(v.text("cursor", cursor))
        return self._backend.read(lambda tx: store.query_runs(tx, filters, size, cursor))

    def count_runs(
        self,
        *,
        workspace_id: str | None = None,
        agent_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str | None = None,
        auth_type: str | None = None,
        execution_mode: str | None = None,
        auth_risk: bool | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
    ) -> int:
        """How many runs match the filters of ``query_runs``."""
        filters = _run_filter(
            workspace_id,
            agent_id,
            provider,
            model,
            status,
            auth_type,
            execution_mode,
            auth_risk,
            since,
            until,
        )
        return self._backend.read(lambda tx: store.count_runs(tx, filters))

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


def idempotent_run_id(workspace_id: str, key: str) -> str:
    """The run id a start with idempotency ``key`` gets in ``workspace_id``.

    A digest, so every process and host derives the same id and the runs primary key
    itself refuses the duplicate, with no lookup table to keep in step.
    """
    digest = hashlib.sha256(f"{workspace_id}\n{key}".encode()).hexdigest()
    return "idem-" + digest[:32]


def _optional_id(field: str, value: object) -> str | None:
    return None if value is None else v.identifier(field, value)


def _run_filter(
    workspace_id: object,
    agent_id: object,
    provider: object,
    model: object,
    status: object,
    auth_type: object,
    execution_mode: object,
    auth_risk: object,
    since: object,
    until: object,
) -> store.RunFilter:
    lo, hi = v.window(since, until)
    return store.RunFilter(
        workspace_id=_optional_id("workspace_id", workspace_id),
        agent_id=_optional_id("agent_id", agent_id),
        provider=_optional_id("provider", provider),
        model=_optional_id("model", model),
        status=None if status is None else v.choice("status", status, RUN_STATUSES),
        auth_type=None if auth_type is None else v.choice("auth_type", auth_type, AUTH_TYPES),
        execution_mode=None
        if execution_mode is None
        else v.choice("execution_mode", execution_mode, EXECUTION_MODES),
        auth_risk=None if auth_risk is None else v.flag("auth_risk", auth_risk),
        since=lo,
        until=hi,
    )


def is_postgres_url(target: str) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def open_backend(target: str) -> Backend:
    """The backend for a SQLite path or a PostgreSQL URL."""
    if is_postgres_url(target):
        try:
            from racs.ledger.postgres import PostgresBackend
        except ImportError as exc:
            raise RacsError(
                ERR_STORAGE,
                f"a PostgreSQL ledger needs psycopg: pip install 'racs[postgres]' ({exc})",
            ) from exc
        return PostgresBackend(target)
    from racs.ledger.sqlite import SqliteBackend

    return SqliteBackend(os.path.expanduser(target))


def create_ledger(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    clock: Callable[[], int] | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> Ledger:
    """Open a ledger, creating and migrating its schema (and parent directories) as needed.

    Where: ``url``, else ``path`` (a ``postgresql://`` string selects PostgreSQL), else the
    ``RACS_LEDGER`` environment variable, else ``~/.racs/ledger.db``. ``clock`` returns ms
    since the epoch and stamps every event (default: the wall clock). The seed's spellings
    work too: ``create_ledger(db_path=...)`` and ``create_ledger({"dbPath": ...})``.
    """
    if isinstance(path, Mapping):
        seed = seed_options("create_ledger", path, {}, {"db_path": None, "url": None})
        path, url = seed.get("db_path"), seed.get("url", url)
    if db_path is not None:
        if path is not None:
            raise invalid("create_ledger: give either path or db_path, not both")
        path = db_path
    if url is not None:
        target = v.text("url", url)
    elif path is not None:
        target = os.fspath(path)
    else:
        target = os.environ.get(ENV_VAR) or str(default_ledger_path())
    return Ledger(open_backend(target), clock)
