"""The engine: wires validation, analysis, planning and the memories; the only state."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from racs.core.accounting import Tokens, cost_of, parse_pricing_table, storage_usd
from racs.core.errors import ERR_CLOSED, ERR_INVALID_INPUT, ERR_STATE_VERSION, RacsError, invalid
from racs.core.facts import PROVIDERS
from racs.core.keys import KEY_SCHEMES, combine, digest_function, plan_id
from racs.core.model import (
    BreakpointDirective,
    CachePlan,
    CacheStats,
    DriftReport,
    LimitReached,
    LintFinding,
    PlanCreated,
    PrefixDrifted,
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
from racs.core.profiles import SHIPPED_PROFILES, merge_profile, profile_overrides
from racs.engine.filters import INVALIDATE_OPTIONS, STATS_OPTIONS, check_filter, filter_options
from racs.learning.live import LearnedReuse
from racs.ledger.payloads import iter_usages
from racs.planning import planner as _planner
from racs.planning.drift import DriftTracker, Fingerprint, SegPrint
from racs.planning.inputs import Prompt, parse_prompt, parse_usage
from racs.planning.keepwarm import KeepWarm, ResourceRecord, Resources, keepwarm_ttl
from racs.planning.lint import Facts, FactsCache, analyze
from racs.planning.usage import UsageBook
from racs.state import takk
from racs.state.base import SNAPSHOT_VERSION, StateBackend, is_async_backend
from racs.state.shared import PlanRound, SharedState, shared_backend

log = logging.getLogger("racs")

Listener = Callable[[TelemetryEvent], None]
Tokenizer = Callable[[str], float]

DEFAULT_SEED: Final = 7
DEFAULT_MAX_PREFIXES: Final = 1000
REUSE_POLICIES: Final = ("reference", "learned")
"""``reference``: the spec's decision from the declared reuse; ``learned``: racs.learning."""


def _wall_clock() -> float:
    return time.time_ns() // 1_000_000


class _PrefixInfo:
    __slots__ = ("agent_id", "last_seen", "model", "provider")

    def __init__(self, provider: str, model: str, agent_id: str | None, last_seen: float) -> None:
        self.provider = provider
        self.model = model
        self.agent_id = agent_id
        self.last_seen = last_seen


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
        _snapshot: Mapping[str, Any] | None = None,
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
        if reuse_policy not in REUSE_POLICIES:
            raise invalid(
                f"reuse_policy must be one of {', '.join(REUSE_POLICIES)}, got {reuse_policy!r}"
            )
        self.seed = seed
        self.key_scheme = key_scheme
        self._clock: Callable[[], float] = clock or _wall_clock
        self._tokenizer = tokenizer
        self._digest = digest_function(key_scheme)
        self._pricing: dict[str, Pricing] = parse_pricing_table(pricing)
        self._provider_overrides = self._parse_profiles(profiles)
        self._model_overrides = self._parse_model_profiles(model_profiles)
        self._catalog = self._load_catalog(catalog)
        self._profile_cache: dict[tuple[str, str | None], ProviderProfile] = {}
        self._facts = FactsCache(max_chars=facts_max_chars)
        self._lock = threading.RLock()
        self._listeners: tuple[Listener, ...] = ()
        self._counter = 0
        self.max_prefixes = max_prefixes
        self._prefixes: dict[str, _PrefixInfo] = {}
        self._keepwarm = KeepWarm()
        self._resources = Resources()
        self._drift = DriftTracker(max_lineages=max_prefixes)
        self._prices = PriceBook(self._pricing, self._known_profile)
        self._usage = UsageBook(self._prices, max_usage_keys)
        # A shared backend (racs.redis_state) is consulted per call; see state/shared.py.
        self._shared = shared_backend(state)
        if self._shared is not None:
            self._usage = self._shared.usage_book(self._prices, max_usage_keys, self._clock)
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
    @staticmethod
    def _parse_profiles(profiles: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        if profiles is None:
            return {}
        if not isinstance(profiles, Mapping):
            raise invalid("profiles must map provider ids to partial profiles")
        out = {}
        for provider, raw in profiles.items():
            if provider not in PROVIDERS:
                raise invalid(f"profiles: unknown provider {provider!r}")
            out[provider] = profile_overrides(raw, f"profiles[{provider!r}]")
        return out

    @staticmethod
    def _parse_model_profiles(raw: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
        if raw is None:
            return []
        if not isinstance(raw, Mapping):
            raise invalid("model_profiles must map model ids or patterns (ending in *) to profiles")
        return [
            (str(pattern), profile_overrides(v, f"model_profiles[{pattern!r}]"))
            for pattern, v in raw.items()
        ]

    @staticmethod
    def _load_catalog(catalog: Any) -> Any:
        if catalog is False:
            return None
        try:
            from racs.core.catalog import Catalog, default_catalog
        except ImportError:  # pragma: no cover - the catalog ships with racs
            return None
        if catalog is None:
            return default_catalog()
        if isinstance(catalog, Catalog):
            return catalog
        return default_catalog().extended(catalog)

    def profile_of(self, provider: str, model: str | None = None) -> ProviderProfile:
        """The effective profile: shipped values, host overrides, then per-model refinements.

        Layers, later ones winning: the shipped provider profile, the model catalog
        entry, the host's ``profiles`` override, the host's ``model_profiles`` override.
        """
        cache_key = (provider, model)
        profile = self._profile_cache.get(cache_key)
        if profile is not None:
            return profile
        base = SHIPPED_PROFILES.get(provider)
        if base is None:
            raise invalid(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
        profile = base
        if model is not None and self._catalog is not None:
            profile = self._catalog.refine(profile, model)
        profile = merge_profile(profile, self._provider_overrides.get(provider, {}))
        if model is not None:
            for pattern, overrides in self._model_overrides:
                if _matches(pattern, model):
                    profile = merge_profile(profile, overrides)
        with self._lock:
            if len(self._profile_cache) > 4096:
                self._profile_cache.clear()
            self._profile_cache[cache_key] = profile
        return profile

    def _known_profile(self, provider: str, model: str) -> ProviderProfile | None:
        """The effective profile, or None for a provider racs has no profile for."""
        if provider not in SHIPPED_PROFILES:
            return None
        return self.profile_of(provider, model)

    @property
    def pricing(self) -> Mapping[str, Pricing]:
        """The user's pricing table (cards that win over the bundled price database)."""
        return self._pricing

    @property
    def prices(self) -> PriceBook:
        """The price book the engine reports USD with: the user's cards, then the database."""
        return self._prices

    def now(self) -> float:
        """The engine clock, milliseconds since the epoch."""
        return self._clock()

    # --- planning -------------------------------------------------------------------
    def _resolve(self, prompt: Prompt) -> None:
        """Fill in each segment's tokens and (for non-volatile ones) digest."""
        facts_get = self._facts.get
        tokenizer = self._tokenizer
        digest = self._digest
        boundary = prompt.boundary
        stable: float = 0
        total: float = 0
        for i, seg in enumerate(prompt.segments):
            content = seg.content
            facts: Facts | None = None
            if seg.tokens < 0:
                if content is None:
                    seg.tokens = 0
                elif tokenizer is None:
                    if content.isascii() or seg.stability == "volatile":
                        seg.tokens = -(-utf16_length(content) // 4)
                    else:  # non-ASCII stable text: measure its UTF-16 length once
                        facts = facts_get(content)
                        if facts.tokens is None:
                            facts.tokens = -(-utf16_length(content) // 4)
                        seg.tokens = facts.tokens
                else:
                    facts = facts_get(content)
                    if facts.tokens is None:
                        facts.tokens = _tokenize(tokenizer, content, seg.id)
                    seg.tokens = facts.tokens
            if seg.digest is None and seg.stability != "volatile":
                assert content is not None
                if facts is None:
                    facts = facts_get(content)
                if facts.digest is None:
                    facts.digest = digest(content)
                seg.digest = facts.digest
            total += seg.tokens
            if i < boundary:
                stable += seg.tokens
        if not math.isfinite(total):
            raise invalid("segments: the token counts add up to more than a float can hold")
        prompt.stable_tokens = stable
        prompt.total_tokens = total

    def _prefix_key(self, prompt: Prompt) -> str:
        parts = [seg.digest or "" for seg in prompt.segments[: prompt.boundary]]
        parts.append(prompt.provider)
        parts.append(prompt.model)
        parts.append(prompt.agent_id or "")
        return combine(parts, self._digest)

    def lint(self, input: Any) -> tuple[LintFinding, ...]:
        """Lint one PlanInput: no fingerprinting, no drift, no telemetry."""
        self._check_open()
        prompt = parse_prompt(input)
        with self._lock:
            self._resolve(prompt)
            profile = self.profile_of(prompt.provider, prompt.model)
            return tuple(analyze(prompt, profile, self._facts.get))

    def plan(self, input: Any) -> CachePlan:
        """Plan one PlanInput: prefix key, directives, findings, break-even; records the
        fingerprint for drift and feeds keep-warm and the resource registry."""
        self._check_open()
        prompt = parse_prompt(input)
        events: list[TelemetryEvent] = []
        with self._lock:
            self._resolve(prompt)
            provider, model = prompt.provider, prompt.model
            profile = self.profile_of(provider, model)
            prefix_key = self._prefix_key(prompt)
            findings = analyze(prompt, profile, self._facts.get)
            now = self._clock()
            # The card as the price book sees it: the user's, else the bundled database's.
            pricing = self._prices.card(provider, model, timestamp_ms=now)
            tracked = self._admit(prompt, prefix_key, now, events)
            resource_state: _planner.ResourceState = "absent"
            if profile.family == "resource":
                record = self._resources.records.get(prefix_key)
                if record is not None:
                    state = record.state_at(now)
                    if state == "expired":
                        del self._resources.records[prefix_key]
                    else:
                        resource_state = "due" if state == "due" else "live"
            lineage = prompt.agent_id or f"{provider}:{model}"
            anchor = None
            if profile.lookback_positions and profile.family == "breakpoint":
                anchor = self._drift.anchor(lineage, prompt.segments)
            outcome = _planner.plan_family(
                prompt, profile, pricing, prefix_key, resource_state, anchor
            )
            fleet_id = None
            if self._shared is not None:
                outcome, fleet_id = self._fleet_round(
                    self._shared,
                    prompt,
                    profile,
                    pricing,
                    prefix_key,
                    lineage,
                    anchor,
                    outcome,
                    tracked,
                    now,
                    events,
                )
            touches = None
            if self._learned is not None:  # after the fleet: it may re-plan the reference
                outcome, touches = self._learned.plan(prompt, profile, prefix_key, outcome, now)
            if outcome.findings:
                findings.extend(outcome.findings)
            self._counter += 1
            plan = CachePlan(
                plan_id=fleet_id or plan_id(self.seed, self._counter),
                provider=provider,
                model=model,
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
            self._bookkeep(plan, prompt, profile, pricing, tracked, now, events, touches)
            listening = bool(self._listeners)
            if listening:  # after drift and resource events, in @takk/racs's order
                events.append(PlanCreated(plan, now))
        if self._shared is not None:
            self._shared.push(events)
        if listening or events:
            self._emit(events)
        return plan

    def _fleet_round(
        self,
        shared: SharedState,
        prompt: Prompt,
        profile: ProviderProfile,
        pricing: Pricing | None,
        prefix_key: str,
        lineage: str,
        anchor: int | None,
        outcome: _planner.Outcome,
        tracked: bool,
        now: float,
        events: list[TelemetryEvent],
    ) -> tuple[_planner.Outcome, str]:
        """Tell the fleet about this plan in one round trip; take its resource action, plan
        id and the lineage's previous fingerprint in place of the local ones."""
        resource = next((d for d in outcome.directives if isinstance(d, ResourceDirective)), None)
        action = None if resource is None or resource.action == "delete" else resource.action
        ttl = None if resource is None else float(resource.ttl_seconds)
        reply = shared.plan_round(
            PlanRound(
                now=now,
                prefix_key=prefix_key,
                provider=prompt.provider,
                model=prompt.model,
                lineage=lineage,
                fingerprint=_fingerprint(prompt, prefix_key, outcome.directives),
                resource_ttl=None if action is None else ttl,
                resource_tokens=prompt.stable_tokens,
                local_action=action,
                keepwarm=keepwarm_ttl(outcome.directives),
            ),
            self.seed,
            events,
        )
        for key, provider in reply.forget:
            self._forget(key, provider)
        if not reply.fleet:
            return outcome, reply.plan_id
        self._drift.adopt(lineage, reply.previous)
        fleet_action = reply.resource_action
        if fleet_action is not None and fleet_action != action:
            last_write = reply.resource_last_write
            if fleet_action == "reuse" and tracked and ttl is not None and last_write is not None:
                self._resources.records[prefix_key] = ResourceRecord(
                    prefix_key,
                    prompt.provider,
                    prompt.model,
                    ttl,
                    last_write,
                    prompt.stable_tokens,
                )
            state = _FLEET_RESOURCE_STATE[fleet_action]
            outcome = _planner.plan_family(prompt, profile, pricing, prefix_key, state, anchor)
        return outcome, reply.plan_id

    def _admit(self, prompt: Prompt, key: str, now: float, events: list[TelemetryEvent]) -> bool:
        """Register the prefix; False when the registry is full (planned, not tracked)."""
        info = self._prefixes.get(key)
        if info is not None:
            info.last_seen = now
            return True
        if len(self._prefixes) >= self.max_prefixes:
            self._purge_dead(now)
        if len(self._prefixes) >= self.max_prefixes:
            events.append(
                LimitReached(
                    "prefixes",
                    f"prefix registry full ({self.max_prefixes}); prefix {key} is planned "
                    "but gets no keep-warm or resource bookkeeping",
                    now,
                )
            )
            return False
        self._prefixes[key] = _PrefixInfo(prompt.provider, prompt.model, prompt.agent_id, now)
        return True

    def _purge_dead(self, now: float) -> None:
        """Forget registered prefixes whose caches are all gone (nothing left to keep)."""
        entries = self._keepwarm.entries
        records = self._resources.records
        for key in list(self._prefixes):
            entry = entries.get(key)
            record = records.get(key)
            if (entry is None or now >= entry.expires_at) and (
                record is None or record.state_at(now) == "expired"
            ):
                del self._prefixes[key]
                entries.pop(key, None)
                records.pop(key, None)

    def _bookkeep(
        self,
        plan: CachePlan,
        prompt: Prompt,
        profile: ProviderProfile,
        pricing: Pricing | None,
        tracked: bool,
        now: float,
        events: list[TelemetryEvent],
        touches: int | None = None,
    ) -> None:
        key = plan.prefix_key
        lineage = prompt.agent_id or f"{prompt.provider}:{prompt.model}"
        fingerprint = _fingerprint(prompt, key, plan.directives)
        report, evicted = self._drift.observe(lineage, fingerprint, now)
        if report is not None:
            events.append(PrefixDrifted(report))
        if evicted:
            events.append(
                LimitReached(
                    "prefixes", "drift lineage cap reached; the oldest lineage was forgotten", now
                )
            )
        for directive in plan.directives:
            if isinstance(directive, ResourceDirective):
                ttl_s = float(directive.ttl_seconds)
                if directive.action in ("create", "refresh"):
                    if tracked:
                        self._resources.records[key] = ResourceRecord(
                            key, plan.provider, plan.model, ttl_s, now, plan.stable_tokens
                        )
                    rates = self._prices.rates(
                        plan.provider, plan.model, timestamp_ms=now, input_tokens=plan.total_tokens
                    )
                    if rates is not None and rates.storage_per_mtok_hour is not None:
                        usd = storage_usd(plan.stable_tokens, ttl_s, rates.storage_per_mtok_hour)
                        if self._usage.add_storage(
                            key, plan.provider, plan.model, plan.agent_id, usd
                        ):
                            events.append(_ledger_limit(now))
                if tracked:  # past the prefix cap there is no resource bookkeeping to mirror
                    events.append(ResourceAction(directive, now))
        shortest = keepwarm_ttl(plan.directives)
        if tracked and shortest is not None:
            record = self._resources.records.get(key)
            last_write = record.last_write_at if record is not None else now
            self._keepwarm.track(
                key, plan.provider, plan.model, shortest[0], shortest[1], last_write, touches
            )

    # --- accounting -----------------------------------------------------------------
    def record(self, usage: Any) -> None:
        """Account one call's usage (all-in ``input_tokens``); emits ``usage.recorded``."""
        self._check_open()
        u = parse_usage(usage)
        events: list[TelemetryEvent] = []
        with self._lock:
            now = self._clock()
            if u.timestamp is None or u.agent_id is None:
                info = self._prefixes.get(u.prefix_key) if u.prefix_key else None
                u = replace(
                    u,
                    timestamp=u.timestamp if u.timestamp is not None else now,
                    agent_id=u.agent_id or (info.agent_id if info is not None else None),
                )
            if self._ledger is not None:
                self._ledger.record_cache_usage(
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
            if self._learned is not None:
                self._learned.record(u)
            key = u.prefix_key or f"{u.provider}:{u.model}"
            if self._usage.add(u, key):
                events.append(_ledger_limit(now))
            if self._listeners:
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
        if self._ledger is not None:
            from racs.engine.stats import ledger_stats

            fleet_storage = self._shared.storage_spend() if self._shared is not None else None
            with self._lock:
                storage = fleet_storage or {
                    k: a.storage_spend_usd for k, a in self._usage.aggregates.items()
                }
            return ledger_stats(
                self._ledger,
                self._prices,
                storage if since is None and until is None else {},
                prefix_key=prefix_key,
                provider=provider,
                model=model,
                agent_id=agent_id,
                since=since,
                until=until,
            )
        if since is not None or until is not None:
            raise invalid("stats by time window need a ledger: create_racs(ledger=create_ledger())")
        if self._shared is not None:
            events: list[TelemetryEvent] = []
            fleet = self._shared.stats(prefix_key, provider, model, agent_id, events)
            self._emit(events)
            if fleet is not None:
                return fleet
        with self._lock:
            return self._usage.stats(prefix_key, provider, model, agent_id)

    # --- keep-warm and resources ----------------------------------------------------
    def schedule(self, now: float | None = None) -> tuple[RefreshEntry, ...]:
        """Keep-warm entries due at ``now``, most overdue first; emits ``refresh.due``."""
        self._check_open()
        with self._lock:
            at = self._clock() if now is None else _time_arg(now, "now")
            due = tuple(self._keepwarm.due(at))
        if self._shared is not None:  # the fleet's entries, each due touch leased to one host
            events: list[TelemetryEvent] = []
            fleet = self._shared.due(at, events)
            self._emit(events)
            if fleet is not None:
                due = tuple(fleet)
        if due and self._listeners:
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
            slid = self._keepwarm.slide(prefix_key, at)
            record = self._resources.records.get(prefix_key)
            if record is not None:
                record.last_write_at = at
                slid = True
            now = self._clock()
        if self._shared is not None:
            events: list[TelemetryEvent] = []
            slid = self._shared.slide(prefix_key, at, now, events) or slid
            self._emit(events)
        return slid

    def drifts(self, limit: int | None = None) -> tuple[DriftReport, ...]:
        """The latest drift reports, oldest first and newest last, at most ``limit``."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise invalid("limit must be an integer >= 0")
        if self._shared is not None:
            events: list[TelemetryEvent] = []
            fleet = self._shared.drifts(limit, events)
            self._emit(events)
            if fleet is not None:
                return tuple(fleet)
        with self._lock:
            return self._drift.latest(limit)

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
            matched, deleted = self._forget(prefix_key, provider)
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

    def _forget(
        self, prefix_key: str | None, provider: str | None
    ) -> tuple[set[str], dict[str, float]]:
        """Drop the local memories of matching prefixes: the keys, and deleted resource TTLs."""
        candidates: dict[str, str] = {}
        for key, info in self._prefixes.items():
            candidates[key] = info.provider
        for key, entry in self._keepwarm.entries.items():
            candidates.setdefault(key, entry.provider)
        for key, record in self._resources.records.items():
            candidates.setdefault(key, record.provider)
        for fp in self._drift.lineages.values():
            candidates.setdefault(fp.prefix_key, fp.provider)
        matched = {
            key
            for key, prov in candidates.items()
            if (prefix_key is None or key == prefix_key) and (provider is None or prov == provider)
        }
        deleted: dict[str, float] = {}
        for key in matched:
            self._prefixes.pop(key, None)
            self._keepwarm.entries.pop(key, None)
            rec = self._resources.records.pop(key, None)
            if rec is not None:
                deleted[key] = rec.ttl_seconds
        self._drift.forget(matched)
        return matched, deleted

    # --- telemetry ------------------------------------------------------------------
    def on(self, listener: Listener) -> Callable[[], None]:
        """Subscribe to telemetry; returns an idempotent unsubscribe function."""
        if not callable(listener):
            raise invalid("listener must be callable")
        token = _Subscription(listener)
        with self._lock:
            self._listeners = (*self._listeners, token)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not token)

        return unsubscribe

    def _emit(self, events: list[TelemetryEvent]) -> None:
        listeners = self._listeners
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a listener must never break the engine
                    log.exception("racs telemetry listener raised on %s", event.type)

    # --- snapshots ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The engine state as a version-1 snapshot: hashes and counts, never content."""
        with self._lock:
            return {
                "version": SNAPSHOT_VERSION,
                "savedAt": self._clock(),
                "data": {
                    "planCounter": self._counter,
                    "usage": self._usage.state(),
                    "fingerprints": self._drift.fingerprints_state(),
                    "keepWarm": self._keepwarm.state(),
                    "resources": self._resources.state(),
                    "drifts": self._drift.reports_state(),
                    "prefixes": [
                        {
                            "prefixKey": k,
                            "provider": i.provider,
                            "model": i.model,
                            "agentId": i.agent_id,
                            "lastSeen": i.last_seen,
                        }
                        for k, i in self._prefixes.items()
                    ],
                    **({} if self._learned is None else {"learning": self._learned.state()}),
                },
            }

    def _restore(self, snapshot: Any) -> None:
        if not isinstance(snapshot, Mapping):
            log.warning("racs: snapshot is not an object; starting empty")
            return
        version = snapshot.get("version")
        if version != SNAPSHOT_VERSION:
            raise RacsError(
                ERR_STATE_VERSION,
                f"snapshot version {version!r} is not supported (this racs reads version "
                f"{SNAPSHOT_VERSION})",
            )
        data = snapshot.get("data")
        if not isinstance(data, Mapping):
            log.warning("racs: snapshot has no data object; starting empty")
            return

        def counter(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError("bad plan counter")
            self._counter = value

        def prefixes(value: Any) -> None:
            restored = {
                str(d["prefixKey"]): _PrefixInfo(
                    str(d["provider"]),
                    str(d["model"]),
                    None if d.get("agentId") is None else str(d["agentId"]),
                    float(d["lastSeen"]),
                )
                for d in value
            }
            self._prefixes = restored

        sections: dict[str, Callable[[Any], None]] = {
            "planCounter": counter,
            "usage": self._usage.load,
            "fingerprints": self._drift.load_fingerprints,
            "keepWarm": self._keepwarm.load,
            "resources": self._resources.load,
            "drifts": self._drift.load_reports,
            "prefixes": prefixes,
        }
        if self._learned is not None and self._ledger is None:  # a ledger is rebuilt instead
            sections["learning"] = self._learned.load
        raw: Mapping[str, Callable[[], Any]]
        if takk.is_takk_layout(data):  # written by @takk/racs: convert section by section
            raw = takk.sections(data, self._price_tokens)
        else:
            raw = {name: functools.partial(data.__getitem__, name) for name in data}
        for name, load in sections.items():
            if name not in raw:
                continue
            try:
                load(raw[name]())
            except Exception as exc:  # a corrupt section degrades to empty, never raises
                # The kind of fault only: the message may quote the damaged file's text.
                log.warning(
                    "racs: snapshot section %r is corrupt (%s); starting it empty",
                    name,
                    type(exc).__name__,
                )

    def _price_tokens(
        self, provider: str, model: str, read: float, writes: dict[str, float]
    ) -> tuple[float, float] | None:
        """Saved USD and write premium of restored token totals, None when unpriced."""
        rates = self._prices.rates(provider, model)
        if rates is None:
            return None
        tokens = Tokens(read=read, write_5m=writes.get("5m", 0), write_1h=writes.get("1h", 0))
        cost = cost_of(tokens, rates)
        return cost.saved, cost.write_premium

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


class _Subscription:
    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def __call__(self, event: TelemetryEvent) -> None:
        self.listener(event)


def _learned_reuse(policy: str, ledger: Any, prices: PriceBook) -> LearnedReuse | None:
    """The learned-reuse memory when asked for, rebuilt from the ledger's usage if any."""
    if policy != "learned":
        return None
    learned = LearnedReuse(prices)
    if ledger is not None:
        learned.rebuild(iter_usages(ledger))
    return learned


_FLEET_RESOURCE_STATE: Final[dict[str, _planner.ResourceState]] = {
    "create": "absent",
    "reuse": "live",
    "refresh": "due",
}


def _fingerprint(prompt: Prompt, key: str, directives: tuple[Any, ...]) -> Fingerprint:
    """What drift remembers of a plan: hashes, stabilities, counts and the marked ids."""
    return Fingerprint(
        key,
        prompt.provider,
        prompt.model,
        prompt.agent_id,
        prompt.boundary,
        tuple(SegPrint(s.id, s.digest, s.stability, s.tokens) for s in prompt.segments),
        tuple(d.segment_id for d in directives if isinstance(d, BreakpointDirective)),
    )


def _ledger_limit(now: float) -> LimitReached:
    return LimitReached(
        "ledger", "usage aggregate cap reached; the least recently used prefix was evicted", now
    )


def _matches(pattern: str, model: str) -> bool:
    if pattern.endswith("*"):
        return model.startswith(pattern[:-1])
    return pattern == model


def _num(x: float) -> float:
    return int(x) if float(x).is_integer() else x


def _time_arg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"{name} must be a finite number of milliseconds since the epoch")
    return value


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript counts it (token estimates match @takk/racs)."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _tokenize(tokenizer: Tokenizer, content: str, segment_id: str) -> float:
    try:
        tokens = tokenizer(content)
    except Exception as exc:
        raise invalid(f"tokenizer failed on segment {segment_id!r}: {exc}") from None
    if (
        isinstance(tokens, bool)
        or not isinstance(tokens, (int, float))
        or not (math.isfinite(tokens) and tokens >= 0)
    ):
        raise invalid(
            f"tokenizer returned {tokens!r} for segment {segment_id!r}; expected a count >= 0"
        )
    return tokens


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
