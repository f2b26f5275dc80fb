"""Value types of racs (inputs, plans, findings, usage, stats) and their JSON wire form.

Python code uses snake_case; ``to_dict()`` gives the camelCase wire form of the seed
(``@takk/racs`` 1.0.0) so JSON written for that package round-trips unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias, cast, get_type_hints

from racs.core.tiers import TIER

Role: TypeAlias = Literal["system", "tools", "documents", "history", "dynamic"]
Stability: TypeAlias = Literal["stable", "semi", "volatile"]
Family: TypeAlias = Literal["breakpoint", "routing-key", "resource", "passive"]
Severity: TypeAlias = Literal["error", "warning", "info"]
ResourceActionName: TypeAlias = Literal["create", "reuse", "refresh", "delete"]

ROLES: Final = ("system", "tools", "documents", "history", "dynamic")
STABILITIES: Final = ("stable", "semi", "volatile")
FAMILIES: Final = ("breakpoint", "routing-key", "resource", "passive")

LINT_CODES: Final = (
    "segment-order",
    "volatile-early",
    "unstable-tools",
    "missing-stability",
    "timestamp-in-stable",
    "identifier-in-stable",
    "below-minimum",
    "breakpoint-after-volatile",
    "lookback-miss",
    "write-premium-trap",
)


# --- wire form -----------------------------------------------------------------------

WHOLE: Final = "racs:whole"
"""Marks a field written as a JSON integer (see ``Count``)."""
Count: TypeAlias = Annotated[float, WHOLE]
"""A token count or epoch milliseconds: any number inside racs, a JSON integer on the wire
(``to_dict`` rounds it; inputs are already whole, so that only drops a ``.0``)."""


def camel(name: str) -> str:
    """snake_case -> the seed's camelCase (``per_mtok`` -> ``PerMTok``)."""
    head, *rest = name.split("_")
    return head + "".join(
        "MTok" if part == "mtok" else part[:1].upper() + part[1:] for part in rest
    )


_CAMEL_CACHE: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def whole_fields(cls: type) -> frozenset[str]:
    """Names of the ``Count`` fields of a wire dataclass (JSON integers)."""
    hints = get_type_hints(cls, include_extras=True)

    def marked(hint: Any) -> bool:  # ``Count`` alone or in ``Count | None``
        return WHOLE in getattr(hint, "__metadata__", ()) or any(
            marked(arg) for arg in getattr(hint, "__args__", ())
        )

    return frozenset(f.name for f in fields(cls) if marked(hints.get(f.name)))


def _wire_fields(cls: type) -> tuple[tuple[str, str, bool], ...]:
    cached = _CAMEL_CACHE.get(cls)
    if cached is None:
        whole = whole_fields(cls)
        cached = tuple((f.name, camel(f.name), f.name in whole) for f in fields(cls))
        _CAMEL_CACHE[cls] = cached
    return cached


def whole(value: float) -> int | None:
    """A count or time as a JSON integer (None, written null, when not finite)."""
    if isinstance(value, int):
        return value
    return round(value) if math.isfinite(value) else None


def to_wire(value: Any) -> Any:
    """Convert a racs value (or containers of them) to JSON-ready camelCase data.

    ``None`` fields are omitted (optional and absent), non-finite floats become ``None``
    (JSON ``null``), tuples become lists.
    """
    if isinstance(value, Wire):
        return value.to_dict()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    return value


class Wire:
    """Mixin: ``to_dict()`` in the camelCase wire form."""

    __slots__ = ()
    _tag: ClassVar[tuple[str, str] | None] = None

    def to_dict(self) -> dict[str, Any]:
        """This value in the camelCase JSON wire form."""
        out: dict[str, Any] = {}
        if self._tag is not None:
            out[self._tag[0]] = self._tag[1]
        for name, wire_name, is_whole in _wire_fields(type(self)):
            v = getattr(self, name)
            if v is None:
                continue
            out[wire_name] = whole(v) if is_whole and isinstance(v, float) else to_wire(v)
        return out


# --- inputs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptSegment(Wire):
    """One contiguous span of the prompt; give ``content``, ``content_hash`` or both."""

    id: str
    role: Role
    stability: Stability
    content: str | None = None
    content_hash: str | None = None
    tokens: float | None = None
    blocks: int | None = None
    """Lookback positions this segment occupies in the request (adapters fill it in)."""


@dataclass(frozen=True, slots=True)
class ExpectedReuse(Wire):
    """How often the prefix is replayed; ``interval_seconds`` wins when both are given."""

    interval_seconds: float | None = None
    calls_per_hour: float | None = None


@dataclass(frozen=True, slots=True)
class PlanInput(Wire):
    """Everything the planner needs: provider, model, ordered segments, expected reuse."""

    provider: str
    model: str
    segments: tuple[PromptSegment, ...]
    agent_id: str | None = None
    reuse: ExpectedReuse | None = None


@dataclass(frozen=True, slots=True)
class CacheUsage(Wire):
    """One call's cache usage; ``input_tokens`` is all-in (uncached + read + writes)."""

    provider: str
    model: str
    input_tokens: Count
    cache_read_tokens: Count
    cache_write_tokens_5m: Count = 0
    cache_write_tokens_1h: Count = 0
    prefix_key: str | None = None
    timestamp: Count | None = None
    agent_id: str | None = None
    cache_write_tokens_30m: Count = 0
    run_id: str | None = None
    """The ledger run this call belongs to (ties the usage to the run in the ledger)."""


@dataclass(frozen=True, slots=True)
class Pricing(Wire):
    """A model's price card in USD per million tokens (always supplied by the host)."""

    input_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_5m_per_mtok: float | None = None
    cache_write_1h_per_mtok: float | None = None
    output_per_mtok: float | None = None
    storage_per_mtok_hour: float | None = None
    cache_write_30m_per_mtok: float | None = None


# --- profiles ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderProfile(Wire):
    """Cache semantics of one provider (or one model, once the catalog refines it)."""

    id: str
    family: Family
    min_cacheable_tokens: int | None = None
    max_breakpoints: int | None = None
    ttls: tuple[str, ...] | None = None
    write_multiplier_5m: float | None = None
    write_multiplier_1h: float | None = None
    read_multiplier: float | None = None
    supports_retention: bool | None = None
    storage_per_mtok_hour: float | None = None
    notes: str | None = None
    write_multiplier_30m: float | None = None
    retention_options: tuple[str, ...] | None = None
    """Routing-key retention values the provider accepts (e.g. ``in_memory``, ``24h``)."""
    lookback_positions: int | None = None
    """How far back a breakpoint looks for an earlier cache entry (Anthropic: 20)."""
    bills_writes: bool | None = None
    routing_key: bool | None = None
    """Breakpoint providers that also route by key (OpenAI GPT-5.6+): send it too."""
    catalog_entry: str | None = None
    """Which catalog entry refined this profile, if any."""
    step_tokens: int | None = None
    """Automatic caches cover whole steps of this many tokens (OpenAI: 128)."""
    idle_retention_seconds: float | None = None
    """How long an automatic entry lives after its last use (the documented high end)."""
    idle_retention_min_seconds: float | None = None
    """The documented low end of that, where the documentation gives a range."""
    max_retention_seconds: float | None = None
    """How long an automatic entry lives at most after it was written, whatever the reads."""
    extended_retention_seconds: float | None = None
    """Lifetime after the last use under extended retention (OpenAI ``24h``)."""
    resource_ttls: tuple[float, ...] | None = None
    """Lifetimes (seconds) of explicit cached contents racs compares (Gemini)."""

    def write_multiplier(self, ttl: str) -> float | None:
        """The write multiplier of a TTL tier, ``None`` when unknown."""
        tier = TIER.get(ttl)
        return None if tier is None else cast(float | None, getattr(self, tier.profile_field))


# --- plans ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakpointDirective(Wire):
    """Place a cache marker at the end of ``segment_id`` with TTL tier ``ttl``."""

    _tag: ClassVar[tuple[str, str] | None] = ("kind", "breakpoint")
    kind: ClassVar[str] = "breakpoint"
    segment_id: str
    ttl: str


@dataclass(frozen=True, slots=True)
class RoutingKeyDirective(Wire):
    """Send ``key`` as the provider's routing key, with extended retention if set."""

    _tag: ClassVar[tuple[str, str] | None] = ("kind", "routing-key")
    kind: ClassVar[str] = "routing-key"
    key: str
    retention: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceDirective(Wire):
    """Perform one lifecycle action on a server-side cache resource."""

    _tag: ClassVar[tuple[str, str] | None] = ("kind", "resource")
    kind: ClassVar[str] = "resource"
    action: ResourceActionName
    resource_key: str
    ttl_seconds: float


@dataclass(frozen=True, slots=True)
class NoneDirective(Wire):
    """Nothing to do, and why."""

    _tag: ClassVar[tuple[str, str] | None] = ("kind", "none")
    kind: ClassVar[str] = "none"
    reason: str


CacheDirective: TypeAlias = (
    BreakpointDirective | RoutingKeyDirective | ResourceDirective | NoneDirective
)


@dataclass(frozen=True, slots=True)
class LintFinding(Wire):
    """One lint result: errors defeat caching, warnings degrade it, info advises."""

    severity: Severity
    code: str
    message: str
    segment_id: str | None = None


@dataclass(frozen=True, slots=True)
class BreakEven(Wire):
    """Economics of caching the prefix, in base-input-token equivalents."""

    write_premium_tokens: float
    min_reuses_to_profit: float
    profitable: bool
    reasoning: str


@dataclass(frozen=True, slots=True)
class CachePlan(Wire):
    """The planner's answer for one input: directives, findings, economics, identity."""

    plan_id: str
    provider: str
    model: str
    family: Family
    prefix_key: str
    stable_tokens: Count
    total_tokens: Count
    directives: tuple[CacheDirective, ...]
    findings: tuple[LintFinding, ...]
    break_even: BreakEven | None
    reasoning: str
    agent_id: str | None = None


# --- state ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrefixStats(Wire):
    """Aggregated cache performance of one prefix (or one ``provider:model``)."""

    prefix_key: str
    calls: int
    hit_ratio: float
    read_tokens: Count
    write_tokens: Count
    uncached_tokens: Count
    saved_usd: float | None = None
    write_spend_usd: float | None = None
    storage_spend_usd: float | None = None
    net_usd: float | None = None
    provider: str | None = None
    model: str | None = None
    hits: int | None = None


@dataclass(frozen=True, slots=True)
class CacheStats(Wire):
    """What ``Racs.stats()`` returns: totals over every recorded usage under a filter, plus
    the per-prefix breakdown (``LedgerStats`` in @takk/racs, an alias kept here)."""

    calls: int
    hit_ratio: float
    read_tokens: Count
    write_tokens: Count
    uncached_tokens: Count
    prefixes: tuple[PrefixStats, ...]
    saved_usd: float | None = None
    write_spend_usd: float | None = None
    storage_spend_usd: float | None = None
    net_usd: float | None = None
    hits: int | None = None
    unpriced_models: tuple[str, ...] = ()
    """Models in these stats that no price card or price database covers (token-only)."""


LedgerStats = CacheStats
"""The @takk/racs name of ``CacheStats`` (kept for migrating code)."""


@dataclass(frozen=True, slots=True)
class DriftReport(Wire):
    """The same lineage produced a different prefix: which segments, how many tokens."""

    prefix_key: str
    previous_key: str
    changed_segment_ids: tuple[str, ...]
    invalidated_tokens: Count
    timestamp: Count
    agent_id: str | None = None
    lineage: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshEntry(Wire):
    """One keep-warm entry: touch the cache at ``refresh_at`` (90 percent of the TTL)."""

    prefix_key: str
    provider: str
    model: str
    ttl: str | float
    last_write_at: Count
    refresh_at: Count


# --- telemetry -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanCreated(Wire):
    """A plan was produced."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "plan.created")
    type: ClassVar[str] = "plan.created"
    plan: CachePlan
    timestamp: Count


@dataclass(frozen=True, slots=True)
class PrefixDrifted(Wire):
    """A drift was detected; the report carries its own timestamp."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "prefix.drifted")
    type: ClassVar[str] = "prefix.drifted"
    report: DriftReport


@dataclass(frozen=True, slots=True)
class UsageRecorded(Wire):
    """A usage record was ingested; ``hit`` when it read at least one cached token."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "usage.recorded")
    type: ClassVar[str] = "usage.recorded"
    usage: CacheUsage
    hit: bool
    timestamp: Count


@dataclass(frozen=True, slots=True)
class RefreshDue(Wire):
    """A keep-warm entry is due."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "refresh.due")
    type: ClassVar[str] = "refresh.due"
    entry: RefreshEntry
    timestamp: Count


@dataclass(frozen=True, slots=True)
class ResourceAction(Wire):
    """A resource lifecycle directive was emitted (mirror it into your bookkeeping)."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "resource.action")
    type: ClassVar[str] = "resource.action"
    directive: ResourceDirective
    timestamp: Count


@dataclass(frozen=True, slots=True)
class LimitReached(Wire):
    """A bounded store hit its cap; ``detail`` says what was sacrificed."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "limit.reached")
    type: ClassVar[str] = "limit.reached"
    scope: str
    detail: str
    timestamp: Count


@dataclass(frozen=True, slots=True)
class StateDegraded(Wire):
    """The shared state backend became unreachable: this host decides locally meanwhile."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "state.degraded")
    type: ClassVar[str] = "state.degraded"
    backend: str
    detail: str
    timestamp: Count


@dataclass(frozen=True, slots=True)
class StateRestored(Wire):
    """The shared state backend answers again; ``detail`` says what was replayed."""

    _tag: ClassVar[tuple[str, str] | None] = ("type", "state.restored")
    type: ClassVar[str] = "state.restored"
    backend: str
    detail: str
    timestamp: Count


TelemetryEvent: TypeAlias = (
    PlanCreated
    | PrefixDrifted
    | UsageRecorded
    | RefreshDue
    | ResourceAction
    | LimitReached
    | StateDegraded
    | StateRestored
)
