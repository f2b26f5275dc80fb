"""The engine's memories: registered prefixes, keep-warm, resources, drift and usage.

``Memories`` owns each part and changes it only through the part's own methods; the
engine holds the lock around every call and turns what happened into telemetry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from racs.core.accounting import storage_usd
from racs.core.model import (
    BreakpointDirective,
    CachePlan,
    CacheStats,
    CacheUsage,
    DriftReport,
    LimitReached,
    PrefixDrifted,
    RefreshEntry,
    ResourceAction,
    ResourceDirective,
    TelemetryEvent,
)
from racs.core.prices import PriceBook
from racs.planning.drift import DriftTracker, Fingerprint, SegPrint
from racs.planning.inputs import ResolvedPrompt, ResolvedSeg
from racs.planning.keepwarm import KeepWarm, ResourceRecord, Resources, keepwarm_ttl
from racs.planning.planner import ResourceState
from racs.planning.usage import UsageBook


class PrefixInfo:
    """A registered prefix: whose it is and when it was last planned."""

    __slots__ = ("agent_id", "last_seen", "model", "provider")

    def __init__(self, provider: str, model: str, agent_id: str | None, last_seen: float) -> None:
        self.provider = provider
        self.model = model
        self.agent_id = agent_id
        self.last_seen = last_seen


class Memories:
    """Everything the engine remembers between calls, bounded by ``max_prefixes``."""

    def __init__(self, max_prefixes: int, usage: UsageBook, prices: PriceBook) -> None:
        self.max_prefixes = max_prefixes
        self._prefixes: dict[str, PrefixInfo] = {}
        self._keepwarm = KeepWarm()
        self._resources = Resources()
        self._drift = DriftTracker(max_lineages=max_prefixes)
        self._usage = usage
        self._prices = prices
        # No registered prefix can die before this moment: when the registry is full, a
        # purge before it would scan every prefix and find nothing (each plan, for ever).
        self._next_death = 0.0

    # --- the prefix registry ---------------------------------------------------------
    def admit(
        self, prompt: ResolvedPrompt, key: str, now: float, events: list[TelemetryEvent]
    ) -> bool:
        """Register the prefix; False when the registry is full (planned, not tracked)."""
        info = self._prefixes.get(key)
        if info is not None:
            info.last_seen = now
            return True
        if len(self._prefixes) >= self.max_prefixes and now >= self._next_death:
            self.purge_dead(now)
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
        self._prefixes[key] = PrefixInfo(prompt.provider, prompt.model, prompt.agent_id, now)
        return True

    def purge_dead(self, now: float) -> None:
        """Forget registered prefixes whose caches are all gone (nothing left to keep)."""
        soonest = math.inf
        for key in list(self._prefixes):
            entry = self._keepwarm.get(key)
            record = self._resources.get(key)
            death = max(
                -math.inf if entry is None else entry.expires_at,
                -math.inf if record is None else record.expires_at,
            )
            if now >= death:
                del self._prefixes[key]
                self._keepwarm.drop(key)
                self._resources.drop(key)
            else:
                soonest = min(soonest, death)
        self._next_death = soonest

    def _may_die_at(self, moment: float) -> None:
        """A memory changed: some prefix may now die as early as ``moment``."""
        self._next_death = min(self._next_death, moment)

    def agent_of(self, prefix_key: str | None) -> str | None:
        """The agent a registered prefix was planned for, if known."""
        info = self._prefixes.get(prefix_key) if prefix_key else None
        return None if info is None else info.agent_id

    def forget(
        self, prefix_key: str | None, provider: str | None
    ) -> tuple[set[str], dict[str, float]]:
        """Drop the memories of matching prefixes: the keys, and deleted resource TTLs."""
        candidates: dict[str, str] = {k: info.provider for k, info in self._prefixes.items()}
        for owners in (self._keepwarm.owners(), self._resources.owners(), self._drift.owners()):
            for key, owner in owners:
                candidates.setdefault(key, owner)
        matched = {
            key
            for key, prov in candidates.items()
            if (prefix_key is None or key == prefix_key) and (provider is None or prov == provider)
        }
        deleted: dict[str, float] = {}
        for key in matched:
            self._prefixes.pop(key, None)
            self._keepwarm.drop(key)
            rec = self._resources.drop(key)
            if rec is not None:
                deleted[key] = rec.ttl_seconds
        self._drift.forget(matched)
        return matched, deleted

    # --- what a plan reads -----------------------------------------------------------
    def resource_state(self, key: str, now: float) -> ResourceState:
        """``absent``, ``live`` or ``due`` for the resource of ``key`` (expired: dropped)."""
        record = self._resources.get(key)
        if record is None:
            return "absent"
        state = record.state_at(now)
        if state == "expired":
            self._resources.drop(key)
            return "absent"
        return "due" if state == "due" else "live"

    def anchor(self, lineage: str, segments: tuple[ResolvedSeg, ...]) -> int | None:
        """The lineage's previous deepest marked segment, when still in place."""
        return self._drift.anchor(lineage, segments)

    # --- what a plan leaves ----------------------------------------------------------
    def observe(
        self,
        plan: CachePlan,
        prompt: ResolvedPrompt,
        lineage: str,
        tracked: bool,
        now: float,
        events: list[TelemetryEvent],
        touches: int | None = None,
    ) -> None:
        """Remember a plan: its drift, its resources and their storage, its keep-warm."""
        latest = fingerprint(prompt, plan.prefix_key, plan.directives)
        report, evicted = self._drift.observe(lineage, latest, now)
        if report is not None:
            events.append(PrefixDrifted(report))
        if evicted is not None:
            self._name_eviction(evicted, now, events)
        for directive in plan.directives:
            if isinstance(directive, ResourceDirective):
                self.note_resource(plan, directive, tracked, now, events)
        if tracked:
            self.keep_warm(plan, now, touches)

    def _name_eviction(
        self, evicted: Fingerprint, now: float, events: list[TelemetryEvent]
    ) -> None:
        """One ``limit.reached`` per overflow, naming the evicted prefix: the registry's
        event of this plan when there is one (lineages share its cap), else a new one."""
        owner = evicted.agent_id or f"{evicted.provider}:{evicted.model}"
        named = f"evicted prefix {evicted.prefix_key} (the oldest drift lineage, {owner!r})"
        for i, event in enumerate(events):
            if isinstance(event, LimitReached) and event.scope == "prefixes":
                events[i] = LimitReached("prefixes", f"{event.detail}; {named}", event.timestamp)
                return
        events.append(
            LimitReached(
                "prefixes", f"drift lineage cap reached ({self.max_prefixes}); {named}", now
            )
        )

    def note_resource(
        self,
        plan: CachePlan,
        directive: ResourceDirective,
        tracked: bool,
        now: float,
        events: list[TelemetryEvent],
    ) -> None:
        """Register a created or refreshed resource and charge its storage; mirror the
        directive as ``resource.action`` when the prefix is tracked."""
        if directive.action in ("create", "refresh"):
            ttl_s = float(directive.ttl_seconds)
            if tracked:
                record = ResourceRecord(
                    plan.prefix_key, plan.provider, plan.model, ttl_s, now, plan.stable_tokens
                )
                self._resources.put(record)
                self._may_die_at(record.expires_at)
            self.charge_storage(plan, ttl_s, now, events)
        if tracked:  # past the prefix cap there is no resource bookkeeping to mirror
            events.append(ResourceAction(directive, now))

    def charge_storage(
        self, plan: CachePlan, ttl_s: float, now: float, events: list[TelemetryEvent]
    ) -> None:
        """Account the storage a resource write pays for its TTL (when priced)."""
        rates = self._prices.rates(
            plan.provider, plan.model, timestamp_ms=now, input_tokens=plan.total_tokens
        )
        if rates is None or rates.storage_per_mtok_hour is None:
            return
        usd = storage_usd(plan.stable_tokens, ttl_s, rates.storage_per_mtok_hour)
        evicted = self._usage.add_storage(
            plan.prefix_key, plan.provider, plan.model, plan.agent_id, usd
        )
        if evicted is not None:
            events.append(ledger_limit(evicted, now))

    def keep_warm(self, plan: CachePlan, now: float, touches: int | None) -> None:
        """Track the plan's shortest-lived cache, from its resource's last write if any."""
        shortest = keepwarm_ttl(plan.directives)
        if shortest is None:
            return
        record = self._resources.get(plan.prefix_key)
        last_write = record.last_write_at if record is not None else now
        self._keepwarm.track(
            plan.prefix_key,
            plan.provider,
            plan.model,
            shortest[0],
            shortest[1],
            last_write,
            touches,
        )
        entry = self._keepwarm.get(plan.prefix_key)
        if entry is not None:
            self._may_die_at(entry.expires_at)

    def adopt(self, lineage: str, previous: Fingerprint | None) -> None:
        """Take the fleet's last fingerprint of a lineage as this host's."""
        self._drift.adopt(lineage, previous)

    def adopt_resource(self, record: ResourceRecord) -> None:
        """Take a resource another host created as live here too."""
        self._resources.put(record)
        self._may_die_at(record.expires_at)

    # --- keep-warm and drift reads ---------------------------------------------------
    def due(self, at: float) -> list[RefreshEntry]:
        """Keep-warm entries due at ``at``, most overdue first."""
        return self._keepwarm.due(at)

    def slide(self, prefix_key: str, at: float) -> bool:
        """The host touched the cache of ``prefix_key`` at ``at``: slide its windows."""
        slid = self._keepwarm.slide(prefix_key, at)
        return self._resources.touch(prefix_key, at) or slid

    def drifts(self, limit: int | None) -> tuple[DriftReport, ...]:
        """The latest drift reports, oldest first."""
        return self._drift.latest(limit)

    # --- usage -----------------------------------------------------------------------
    def record(self, usage: CacheUsage, key: str, events: list[TelemetryEvent], now: float) -> None:
        """Account one usage under ``key``."""
        evicted = self._usage.add(usage, key)
        if evicted is not None:
            events.append(ledger_limit(evicted, now))

    def storage_spend(self) -> dict[str, float]:
        """Resource storage USD per aggregation key."""
        return self._usage.storage_spend()

    def stats(
        self,
        prefix_key: str | None,
        provider: str | None,
        model: str | None,
        agent_id: str | None,
    ) -> CacheStats:
        """Totals and per-prefix stats under the filters."""
        return self._usage.stats(prefix_key, provider, model, agent_id)

    # --- snapshots -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Each memory's snapshot section, JSON-ready."""
        return {
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
        }

    def loaders(self) -> dict[str, Callable[[Any], None]]:
        """Section name -> the loader restoring that memory from its snapshot section."""
        return {
            "usage": self._usage.load,
            "fingerprints": self._drift.load_fingerprints,
            "keepWarm": self._restarting(self._keepwarm.load),
            "resources": self._restarting(self._resources.load),
            "drifts": self._drift.load_reports,
            "prefixes": self._load_prefixes,
        }

    def _restarting(self, load: Callable[[Any], None]) -> Callable[[Any], None]:
        """``load``, after which any prefix may be dead: the next full registry purges."""

        def restored(value: Any) -> None:
            load(value)
            self._next_death = 0.0

        return restored

    def _load_prefixes(self, value: Any) -> None:
        self._next_death = 0.0
        self._prefixes = {
            str(d["prefixKey"]): PrefixInfo(
                str(d["provider"]),
                str(d["model"]),
                None if d.get("agentId") is None else str(d["agentId"]),
                float(d["lastSeen"]),
            )
            for d in value
        }


_new = tuple.__new__


def lineage_of(prompt: ResolvedPrompt) -> str:
    """The drift lineage of a prompt: its agent, else ``provider:model``."""
    return prompt.agent_id or f"{prompt.provider}:{prompt.model}"


def fingerprint(prompt: ResolvedPrompt, key: str, directives: tuple[Any, ...]) -> Fingerprint:
    """What drift remembers of a plan: hashes, stabilities, counts and the marked ids."""
    return Fingerprint(
        key,
        prompt.provider,
        prompt.model,
        prompt.agent_id,
        prompt.boundary,
        # tuple.__new__ skips SegPrint's Python-level __new__: per segment of every plan,
        # half the cost of building the fingerprint (bench/plan_bench.py).
        tuple([_new(SegPrint, (s.id, s.digest, s.stability, s.tokens)) for s in prompt.segments]),
        tuple(d.segment_id for d in directives if isinstance(d, BreakpointDirective)),
    )


def ledger_limit(evicted: str, now: float) -> LimitReached:
    """The event of the usage aggregates' cap evicting its least recently used key."""
    return LimitReached(
        "ledger",
        f"usage aggregate cap reached; evicted the least recently used prefix {evicted}",
        now,
    )
