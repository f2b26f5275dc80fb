"""The engine: wires validation, analysis, planning and the memories; the only state.

The rooms it wires live beside it: ``profiles`` (profile resolution), ``resolve`` (a
prompt's counts and digests, frozen), ``memories`` (what the engine remembers),
``snapshot`` (the snapshot codec) and ``fleet`` (a plan's round trip to shared state).
``Racs`` keeps the lock, the order of the steps and the telemetry.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

from racs.core.accounting import parse_pricing_table
from racs.core.errors import ERR_CLOSED, ERR_INVALID_INPUT, RacsError, invalid
from racs.core.facts import PROVIDERS
from racs.core.keys import KEY_SCHEMES, digest_function, plan_id
from racs.core.model import (
    CachePlan,
    CacheStats,
    CacheUsage,
    DriftReport,
    LintFinding,
    PlanCreated,
    Pricing,
    ProviderProfile,
    RefreshDue,
    RefreshEntry,
    ResourceAction,
    ResourceDirective,
    TelemetryEvent,
    UsageRecorded,
)
from racs.core.prices import PriceBook
from racs.engine import snapshot as codec
from racs.engine.filters import INVALIDATE_OPTIONS, STATS_OPTIONS, check_filter, filter_options
from racs.engine.fleet import Fleet
from racs.engine.memories import Memories
from racs.engine.profiles import Profiles
from racs.engine.resolve import Resolver, Tokenizer
from racs.engine.telemetry import Listener, Telemetry
from racs.learning.live import LearnedReuse
from racs.ledger.payloads import iter_usages
from racs.planning import planner
from racs.planning.inputs import ResolvedPrompt, parse_prompt, parse_usage
from racs.planning.lint import FactsCache, analyze
from racs.planning.usage import UsageBook
from racs.state import takk
from racs.state.base import StateBackend, is_async_backend
from racs.state.shared import shared_backend
from racs.state.takk import TAKK_FORMAT

T = TypeVar("T")

DEFAULT_SEED: Final = 7
DEFAULT_MAX_PREFIXES: Final = 1000
REUSE_POLICIES: Final = ("reference", "learned")
"""``reference``: the spec's decision from the declared reuse; ``learned``: racs.learning."""
SNAPSHOT_FORMATS: Final = ("racs", TAKK_FORMAT)
"""``racs``: every memory; ``takk-v1``: the layout @takk/racs 1.0.0 reads (README)."""


def _wall_clock() -> float:
    return time.time_ns() // 1_000_000


class Racs:
    """The planning engine. Create it with ``create_racs(**options)``.

    Thread-safe: one lock guards the memories; listeners run outside it, in order.
    """

    def __init__(
        self,
        *,
        profiles: Mapping[str, Any] | None = None,
        model_profiles: Mapping[str, Any] | None = None,
        pricing: Mapping[str, Any] | None = None,
        seed: int = DEFAULT_SEED,
        clock: Callable[[], float] | None = None,
        key_scheme: str = "blake2b",
        tokenizer: Tokenizer | None = None,
        max_prefixes: int = DEFAULT_MAX_PREFIXES,
        max_usage_keys: int = 10_000,
        state: StateBackend | None = None,
        ledger: Any = None,
        catalog: Any = None,
        facts_max_chars: int = 64_000_000,
        reuse_policy: str = "reference",
        snapshot_format: str = "racs",
        _snapshot: Mapping[str, Any] | None = None,
    ) -> None:
        _check_options(seed, key_scheme, max_prefixes, max_usage_keys, clock, tokenizer)
        _check_choices(reuse_policy, snapshot_format)
        self.snapshot_format = snapshot_format
        self.seed = seed
        self.key_scheme = key_scheme
        self.max_prefixes = max_prefixes
        self._clock: Callable[[], float] = clock or _wall_clock
        self._pricing: dict[str, Pricing] = parse_pricing_table(pricing)
        self._profiles = Profiles(profiles, model_profiles, catalog)
        self._facts = FactsCache(max_chars=facts_max_chars)
        self._resolver = Resolver(digest_function(key_scheme), tokenizer, self._facts)
        self._lock = threading.RLock()
        self._telemetry = Telemetry()
        self._emit = self._telemetry.emit
        self._counter = 0
        self._prices = PriceBook(self._pricing, self._profiles.known)
        # A shared backend (racs.redis_state) is consulted per call; see state/shared.py.
        self._shared = shared_backend(state)
        usage = (
            UsageBook(self._prices, max_usage_keys)
            if self._shared is None
            else self._shared.usage_book(self._prices, max_usage_keys, self._clock)
        )
        self._memories = Memories(max_prefixes, usage, self._prices)
        self._fleet = None if self._shared is None else Fleet(self._shared, self._memories, seed)
        self._state = state
        self._ledger = ledger
        self._closed = False
        self._learned = _learned_reuse(reuse_policy, ledger, self._prices)
        if state is not None:
            if _snapshot is None and is_async_backend(state):
                raise RacsError(
                    ERR_INVALID_INPUT,
                    "this state backend is asynchronous: use `await create_racs_async(...)`",
                )
            snapshot = _snapshot if _snapshot is not None else state.load()
            if snapshot:
                self._restore(snapshot)

    # --- configuration -------------------------------------------------------------
    def profile_of(self, provider: str, model: str | None = None) -> ProviderProfile:
        """The effective profile (see ``racs.engine.profiles.Profiles.profile_of``)."""
        return self._profiles.profile_of(provider, model)

    @property
    def pricing(self) -> Mapping[str, Pricing]:
        """The user's pricing table (cards that win over the bundled price database)."""
        return self._pricing

    @property
    def prices(self) -> PriceBook:
        """The price book the engine reports USD with: the user's cards, then the database."""
        return self._prices

    @property
    def lock(self) -> threading.RLock:
        """The reentrant lock guarding the memories (a host may hold it around a call)."""
        return self._lock

    @property
    def shares_state(self) -> bool:
        """Whether the memories live in a shared (fleet) state: calls may do network I/O,
        and reading keep-warm entries leases their touches to this host."""
        return self._shared is not None

    def now(self) -> float:
        """The engine clock, milliseconds since the epoch."""
        return self._clock()

    # --- planning -------------------------------------------------------------------
    def lint(self, input: Any) -> tuple[LintFinding, ...]:
        """Lint one PlanInput: no fingerprinting, no drift, no telemetry."""
        self._check_open()
        parsed = parse_prompt(input)
        with self._lock:
            prompt = self._resolver.resolve(parsed)
            profile = self._profiles.profile_of(prompt.provider, prompt.model)
            return tuple(analyze(prompt, profile, self._facts.get))

    def plan(self, input: Any) -> CachePlan:
        """Plan one PlanInput: prefix key, directives, findings, break-even; records the
        fingerprint for drift and feeds keep-warm and the resource registry."""
        self._check_open()
        parsed = parse_prompt(input)
        events: list[TelemetryEvent] = []
        memories = self._memories
        with self._lock:
            prompt = self._resolver.resolve(parsed)
            provider, model = prompt.provider, prompt.model
            profile = self._profiles.profile_of(provider, model)
            prefix_key = self._resolver.prefix_key(prompt)
            findings = analyze(prompt, profile, self._facts.get)
            now = self._clock()
            # The card as the price book sees it: the user's, else the bundled database's.
            pricing = self._prices.card(provider, model, timestamp_ms=now)
            tracked = memories.admit(prompt, prefix_key, now, events)
            resource_state: planner.ResourceState = "absent"
            if profile.family == "resource":
                resource_state = memories.resource_state(prefix_key, now)
            lineage = prompt.agent_id or f"{provider}:{model}"  # as memories.lineage_of
            anchor = None
            if profile.lookback_positions and profile.family == "breakpoint":
                anchor = memories.anchor(lineage, prompt.segments)
            outcome = planner.plan_family(
                prompt, profile, pricing, prefix_key, resource_state, anchor
            )
            fleet_id = None
            if self._fleet is not None:
                outcome, fleet_id = self._fleet.round(
                    prompt, profile, pricing, prefix_key, anchor, outcome, tracked, now, events
                )
            touches = None
            if self._learned is not None:  # after the fleet: it may re-plan the reference
                outcome, touches = self._learned.plan(prompt, profile, prefix_key, outcome, now)
            if outcome.findings:
                findings.extend(outcome.findings)
            self._counter += 1
            plan_ref = fleet_id or plan_id(self.seed, self._counter)
            plan = _cache_plan(plan_ref, prompt, profile, prefix_key, outcome, findings)
            memories.observe(plan, prompt, lineage, tracked, now, events, touches)
            listening = bool(self._telemetry.listeners)
            if listening:  # after drift and resource events, in @takk/racs's order
                events.append(PlanCreated(plan, now))
        if self._shared is not None:
            self._shared.push(events)
        if listening or events:
            self._emit(events)
        return plan

    # --- accounting -----------------------------------------------------------------
    def record(self, usage: Any) -> None:
        """Account one call's usage (all-in ``input_tokens``); emits ``usage.recorded``."""
        self._check_open()
        u = parse_usage(usage)
        events: list[TelemetryEvent] = []
        with self._lock:
            now = self._clock()
            if u.timestamp is None or u.agent_id is None:
                u = replace(
                    u,
                    timestamp=u.timestamp if u.timestamp is not None else now,
                    agent_id=u.agent_id or self._memories.agent_of(u.prefix_key),
                )
            if self._ledger is not None:
                _to_ledger(self._ledger, u, now)
            if self._learned is not None:
                self._learned.record(u)
            self._memories.record(u, u.prefix_key or f"{u.provider}:{u.model}", events, now)
            if self._telemetry.listeners:
                stamp = u.timestamp if u.timestamp is not None else now
                events.insert(0, UsageRecorded(u, u.cache_read_tokens > 0, stamp))
        if self._shared is not None:
            self._shared.push(events)
        if events:
            self._emit(events)

    def stats(
        self,
        prefix_key: str | Mapping[str, Any] | None = None,
        provider: str | None = None,
        *,
        model: str | None = None,
        agent_id: str | None = None,
        since: Any = None,
        until: Any = None,
    ) -> CacheStats:
        """Totals and per-prefix stats (sorted by prefix key) under the filters.

        The filters may also come as one mapping, ``stats({"prefixKey": ...})`` as in
        @takk/racs. ``since``/``until`` (a time window) need a durable ledger.
        """
        self._check_open()
        if isinstance(prefix_key, Mapping):
            given = (provider, model, agent_id, since, until)
            opts = filter_options("stats", prefix_key, given, STATS_OPTIONS)
            return self.stats(**opts)
        check_filter(prefix_key, provider)
        filters = (prefix_key, provider, model, agent_id)
        if self._ledger is not None:
            fleet_storage = self._shared.storage_spend() if self._shared is not None else None
            with self._lock:
                storage = fleet_storage or self._memories.storage_spend()
            return _ledger_stats(self._ledger, self._prices, storage, filters, since, until)
        if since is not None or until is not None:
            raise invalid("stats by time window need a ledger: create_racs(ledger=create_ledger())")
        if self._shared is not None:
            fleet = self._ask_fleet(self._shared.stats, *filters)
            if fleet is not None:
                return fleet
        with self._lock:
            return self._memories.stats(prefix_key, provider, model, agent_id)

    # --- keep-warm and resources ----------------------------------------------------
    def schedule(self, now: float | None = None) -> tuple[RefreshEntry, ...]:
        """Keep-warm entries due at ``now``, most overdue first; emits ``refresh.due``."""
        self._check_open()
        with self._lock:
            at = self._clock() if now is None else _time_arg(now, "now")
            due = tuple(self._memories.due(at))
        if self._shared is not None:  # the fleet's entries, each due touch leased to one host
            fleet = self._ask_fleet(self._shared.due, at)
            if fleet is not None:
                due = tuple(fleet)
        if due and self._telemetry.listeners:
            self._emit([RefreshDue(entry, at) for entry in due])
        return due

    def mark_refreshed(self, prefix_key: str, now: float | None = None) -> bool:
        """The host touched the cache of ``prefix_key`` at ``now``: slide its window.

        Returns False when the engine tracks no such prefix.
        """
        self._check_open()
        if not isinstance(prefix_key, str) or not prefix_key:
            raise invalid("prefix_key must be a non-empty string")
        with self._lock:
            at = self._clock() if now is None else _time_arg(now, "now")
            slid = self._memories.slide(prefix_key, at)
            now = self._clock()
        if self._shared is not None:
            slid = self._ask_fleet(self._shared.slide, prefix_key, at, now) or slid
        return slid

    def drifts(self, limit: int | None = None) -> tuple[DriftReport, ...]:
        """The latest drift reports, oldest first and newest last, at most ``limit``."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise invalid("limit must be an integer >= 0")
        if self._shared is not None:
            fleet = self._ask_fleet(self._shared.drifts, limit)
            if fleet is not None:
                return tuple(fleet)
        with self._lock:
            return self._memories.drifts(limit)

    def invalidate(
        self, prefix_key: str | Mapping[str, Any] | None = None, provider: str | None = None
    ) -> int:
        """Forget fingerprints, keep-warm entries and resources of matching prefixes.

        Emits a ``resource.action`` delete per resource; returns the number of distinct
        prefixes cleared. Accounting and drift history stay. The filter may also come as
        one mapping, ``invalidate({"prefixKey": ...})`` as in @takk/racs.
        """
        self._check_open()
        if isinstance(prefix_key, Mapping):
            opts = filter_options("invalidate", prefix_key, (provider,), INVALIDATE_OPTIONS)
            return self.invalidate(**opts)
        check_filter(prefix_key, provider)
        if provider is not None and provider not in PROVIDERS:
            raise invalid(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        events: list[TelemetryEvent] = []
        with self._lock:
            now = self._clock()
            matched, deleted = self._memories.forget(prefix_key, provider)
        if self._shared is not None:  # every host forgets too (the generation it checks)
            fleet = self._shared.invalidate(prefix_key, provider, events)
            if fleet is not None:
                matched |= fleet[0]
                deleted = dict(fleet[1]) | deleted
        for key in sorted(deleted):
            events.append(ResourceAction(ResourceDirective("delete", key, _num(deleted[key])), now))
        if events:
            self._emit(events)
        return len(matched)

    def _ask_fleet(self, method: Callable[..., T], *args: Any) -> T:
        """Call the shared state (its last argument: the events it adds), then emit those."""
        events: list[TelemetryEvent] = []
        result = method(*args, events)
        self._emit(events)
        return result

    # --- telemetry ------------------------------------------------------------------
    def on(self, listener: Listener) -> Callable[[], None]:
        """Subscribe to telemetry; returns an idempotent unsubscribe function."""
        return self._telemetry.on(listener)

    # --- snapshots ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The engine state as a version-1 snapshot: hashes and counts, never content."""
        with self._lock:
            sections = {"planCounter": self._counter, **self._memories.state()}
            if self.snapshot_format == TAKK_FORMAT:  # the reference's layout: what it can hold
                return codec.encode(self._clock(), takk.layout(sections, self.max_prefixes))
            if self._learned is not None:
                sections["learning"] = self._learned.state()
            return codec.encode(self._clock(), sections)

    def _restore(self, snapshot: Any) -> None:
        loaders = {"planCounter": self._load_counter, **self._memories.loaders()}
        if self._learned is not None and self._ledger is None:  # a ledger is rebuilt instead
            loaders["learning"] = self._learned.load
        codec.decode(snapshot, loaders, codec.pricer(self._prices))

    def _load_counter(self, value: Any) -> None:
        self._counter = codec.load_counter(value)

    def flush(self) -> None:
        """Save a snapshot through the state backend (no-op without one); with a shared
        backend, send what it still holds for the fleet instead."""
        if self._state is None or self._closed:
            return
        if self._shared is not None:
            events: list[TelemetryEvent] = []
            self._shared.push(events)
            self._emit(events)
            return
        self._state.save(self.snapshot())

    async def aflush(self) -> None:
        """``flush`` for asyncio hosts (and asynchronous key-value clients)."""
        if self._state is None or self._closed:
            return
        if self._shared is not None:
            await asyncio.to_thread(self.flush)
            return
        await self._state.asave(self.snapshot())

    def close(self) -> None:
        """Flush, then release; the engine refuses further use."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True

    async def aclose(self) -> None:
        """``close`` for asyncio hosts."""
        if self._closed:
            return
        try:
            await self.aflush()
        finally:
            self._closed = True

    def __enter__(self) -> Racs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Racs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise RacsError(ERR_CLOSED, "this racs engine is closed")

    @property
    def ledger(self) -> Any:
        """The durable ledger behind the engine, if any."""
        return self._ledger

    @property
    def plans_created(self) -> int:
        """How many plans this engine (and its restored snapshots) produced."""
        return self._counter


def _check_options(
    seed: Any,
    key_scheme: Any,
    max_prefixes: Any,
    max_usage_keys: Any,
    clock: Any,
    tokenizer: Any,
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed must be an integer")
    if key_scheme not in KEY_SCHEMES:
        raise invalid(f"key_scheme must be one of {', '.join(KEY_SCHEMES)}, got {key_scheme!r}")
    if isinstance(max_prefixes, bool) or not isinstance(max_prefixes, int) or max_prefixes < 1:
        raise invalid("max_prefixes must be an integer >= 1")
    if (
        isinstance(max_usage_keys, bool)
        or not isinstance(max_usage_keys, int)
        or max_usage_keys < 1
    ):
        raise invalid("max_usage_keys must be an integer >= 1")
    if clock is not None and not callable(clock):
        raise invalid("clock must be a callable returning milliseconds since the epoch")
    if tokenizer is not None and not callable(tokenizer):
        raise invalid("tokenizer must be a callable taking the segment text")


def _cache_plan(
    plan_ref: str,
    prompt: ResolvedPrompt,
    profile: ProviderProfile,
    prefix_key: str,
    outcome: planner.Outcome,
    findings: list[LintFinding],
) -> CachePlan:
    return CachePlan(
        plan_id=plan_ref,
        provider=prompt.provider,
        model=prompt.model,
        family=profile.family,
        prefix_key=prefix_key,
        stable_tokens=prompt.stable_tokens,
        total_tokens=prompt.total_tokens,
        directives=outcome.directives,
        findings=tuple(findings),
        break_even=outcome.break_even,
        reasoning=outcome.reasoning,
        agent_id=prompt.agent_id,
    )


def _ledger_stats(
    ledger: Any,
    prices: PriceBook,
    storage: Mapping[str, float],
    filters: tuple[str | None, str | None, str | None, str | None],
    since: Any,
    until: Any,
) -> CacheStats:
    from racs.engine.stats import ledger_stats  # the ledger's model only when a ledger runs

    prefix_key, provider, model, agent_id = filters
    return ledger_stats(
        ledger,
        prices,
        storage if since is None and until is None else {},
        prefix_key=prefix_key,
        provider=provider,
        model=model,
        agent_id=agent_id,
        since=since,
        until=until,
    )


def _to_ledger(ledger: Any, u: CacheUsage, now: float) -> None:
    ledger.record_cache_usage(
        provider=u.provider,
        model=u.model,
        input_tokens=u.input_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens_5m=u.cache_write_tokens_5m,
        cache_write_tokens_1h=u.cache_write_tokens_1h,
        cache_write_tokens_30m=u.cache_write_tokens_30m,
        timestamp=int(u.timestamp or now),
        prefix_key=u.prefix_key,
        agent_id=u.agent_id,
        run_id=u.run_id,
    )


def _check_choices(reuse_policy: Any, snapshot_format: Any) -> None:
    if reuse_policy not in REUSE_POLICIES:
        raise invalid(
            f"reuse_policy must be one of {', '.join(REUSE_POLICIES)}, got {reuse_policy!r}"
        )
    if snapshot_format not in SNAPSHOT_FORMATS:
        raise invalid(
            f"snapshot_format must be one of {', '.join(SNAPSHOT_FORMATS)}, got {snapshot_format!r}"
        )


def _learned_reuse(policy: str, ledger: Any, prices: PriceBook) -> LearnedReuse | None:
    """The learned-reuse memory when asked for, rebuilt from the ledger's usage if any."""
    if policy != "learned":
        return None
    learned = LearnedReuse(prices)
    if ledger is not None:
        learned.rebuild(iter_usages(ledger))
    return learned


def _num(x: float) -> float:
    return int(x) if float(x).is_integer() else x


def _time_arg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"{name} must be a finite number of milliseconds since the epoch")
    return value


def create_racs(**options: Any) -> Racs:
    """Create a planning engine (see ``Racs`` for the options)."""
    return Racs(**options)


async def create_racs_async(**options: Any) -> Racs:
    """Create an engine whose state backend is asynchronous (loads the snapshot first)."""
    state = options.get("state")
    snapshot = None
    if state is not None:
        snapshot = await state.aload()
        if snapshot is None:
            snapshot = {}
    engine = Racs(**options, _snapshot=snapshot)
    return engine
