"""A deterministic structured-versus-naive prompt-cache demonstration.

Two prompts carry the same content (``racs.simulate.prompts``). Both are planned by a real
engine and "sent" to the one cache model of their provider (``racs.core.cache``, as replay
and the report use it), which turns directives, the prompt's shared prefix and simulated
time into the all-in CacheUsage a real provider would report. Nothing reads the wall clock
or the network: the clock starts at ``SIM_EPOCH_MS`` and advances ``interval`` seconds per
call, and all text is generated from the seed, so identical options give identical results.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, NamedTuple

from racs.core.accounting import Tokens, cost_of, hit_ratio, storage_usd
from racs.core.cache import (
    EMPTY,
    CacheRules,
    State,
    explicit_rule,
    extend,
    rules_for,
    serve,
    with_explicit,
)
from racs.core.errors import invalid
from racs.core.facts import PROVIDER, PROVIDERS, RECORDS
from racs.core.model import (
    BreakpointDirective,
    CachePlan,
    CacheUsage,
    DriftReport,
    LintFinding,
    PrefixDrifted,
    ResourceDirective,
    RoutingKeyDirective,
)
from racs.core.tiers import TIER
from racs.engine import Racs, create_racs
from racs.simulate.prompts import SIM_EPOCH_MS, VARIANTS, prompt_segments

KEEPWARM_TICK_S: Final = 15
"""How often (simulated seconds) the simulated host checks its keep-warm schedule."""


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """A representative provider of one adapter family, with illustrative prices."""

    provider: str
    family: str
    model: str
    pricing: Mapping[str, float]


DEMO_PRICING_NOTE: Final = (
    "USD figures use illustrative list prices (USD per million tokens), not a quote; "
    "pass your own pricing to the engine for real numbers."
)

DEMO_PROVIDERS: Final[Mapping[str, DemoProvider]] = {
    r.id: DemoProvider(r.id, r.profile.family, r.demo_model, r.demo_card)
    for r in RECORDS
    if r.demo_card is not None
}
"""One provider per adapter family, in the order the demonstration runs them."""


def demo_provider(provider: str) -> DemoProvider:
    """The demonstration setup of any of the sixteen providers (its family's prices)."""
    demo = DEMO_PROVIDERS.get(provider)
    if demo is not None:
        return demo
    record = PROVIDER.get(provider)
    if record is None:
        raise invalid(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    family = record.profile.family
    template = next(d for d in DEMO_PROVIDERS.values() if d.family == family)
    return replace(template, provider=provider, model=record.demo_model)


# --- the provider's cache ------------------------------------------------------------


class _Seg(NamedTuple):
    id: str
    tokens: int
    cumulative: int
    prefix_hash: str


def _resolve(segments: Sequence[Mapping[str, Any]]) -> list[_Seg]:
    """Token counts (the engine's 4-characters estimate) and chained prefix hashes."""
    out: list[_Seg] = []
    running = hashlib.blake2b(digest_size=16)
    total = 0
    for seg in segments:
        content = str(seg["content"])
        tokens = -(-len(content) // 4)
        total += tokens
        running.update(content.encode("utf-8"))
        running.update(b"\x1f")
        out.append(_Seg(str(seg["id"]), tokens, total, running.copy().hexdigest()))
    return out


def _shared(before: list[_Seg] | None, now: list[_Seg]) -> int:
    """Tokens of the leading segments two prompts have in common."""
    shared = 0
    for a, b in zip(before or (), now, strict=False):
        if a.prefix_hash != b.prefix_hash:
            break
        shared = b.cumulative
    return shared


@dataclass(frozen=True, slots=True)
class _Request:
    """One call as the cache model sees it (``racs.core.cache.Ask``)."""

    t_ms: float
    prefix: int
    shared: int
    external: int = 0
    miss: bool = False


@dataclass(slots=True)
class _Served:
    read: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    """Billed tokens written per accounting tier."""
    storage_usd: float = 0.0

    def usage_fields(self) -> dict[str, int]:
        """``CacheUsage`` keyword arguments of the writes."""
        return {TIER[t].usage_field: n for t, n in self.writes.items()}


class ProviderCache:
    """The provider's cache for one simulated host: the cache model's state and rules."""

    def __init__(self, rules: CacheRules, storage_price: float | None) -> None:
        self.rules = rules
        self.state: State = EMPTY
        self.storage_price = storage_price
        self._previous: list[_Seg] | None = None

    def send(self, segs: list[_Seg], plan: CachePlan, now_ms: int) -> _Served:
        """Send one planned request; what it read, wrote and (Gemini) stored."""
        shared = _shared(self._previous, segs)
        self._previous = segs
        family = self.rules.family
        if family == "breakpoint":
            return self._breakpoint(segs, plan, now_ms, shared)
        if family == "resource":
            return self._resource(segs, plan, now_ms, shared)
        tier = None
        for d in plan.directives:
            if isinstance(d, RoutingKeyDirective) and d.retention in self.rules.tiers:
                tier = d.retention
        request = _Request(now_ms, segs[-1].cumulative, shared)
        return self._serve(request, tier)

    def _serve(self, request: _Request, tier: str | None) -> _Served:
        self.state, served = serve(self.state, request, tier, self.rules)
        out = _Served(read=served.read)
        rule = served.rule
        if served.written and rule is not None:
            if rule.billed_as is not None:
                out.writes[rule.billed_as] = served.written
            if rule.storage:
                out.storage_usd = storage_usd(
                    served.written, rule.ttl_ms / 1000, self.storage_price
                )
        return out

    def _breakpoint(self, segs: list[_Seg], plan: CachePlan, now_ms: int, shared: int) -> _Served:
        index = {s.id: i for i, s in enumerate(segs)}
        markers = [
            (index[d.segment_id], d.ttl)
            for d in plan.directives
            if isinstance(d, BreakpointDirective) and d.segment_id in index
        ]
        if not markers:
            return self._serve(_Request(now_ms, 0, shared), None)
        deepest, ttl = max(markers)
        tier = ttl if ttl in self.rules.tiers else None
        return self._serve(_Request(now_ms, segs[deepest].cumulative, shared), tier)

    def _resource(self, segs: list[_Seg], plan: CachePlan, now_ms: int, shared: int) -> _Served:
        directive = next((d for d in plan.directives if isinstance(d, ResourceDirective)), None)
        if directive is None:
            return self._serve(_Request(now_ms, 0, shared), None)
        rule = explicit_rule(float(directive.ttl_seconds))
        self.rules = with_explicit(self.rules, float(directive.ttl_seconds))
        request = _Request(now_ms, int(plan.stable_tokens), shared)
        if directive.action == "refresh":
            self.state, renewed = extend(self.state, now_ms, self.rules, rule.name)
            out = self._serve(request, None)
            if renewed:
                out.storage_usd += storage_usd(renewed, rule.ttl_ms / 1000, self.storage_price)
                return out
        elif directive.action == "reuse":
            out = self._serve(request, None)
            if out.read:
                return out
        # Create (or re-create a resource that expired): the whole prefix again.
        return self._serve(replace(request, shared=0), rule.name)

    def refresh(self, ttl_s: float, now_ms: int) -> float:
        """The host's keep-warm TTL update; the tokens renewed (0: it already expired)."""
        rule = explicit_rule(ttl_s)
        self.rules = with_explicit(self.rules, ttl_s)
        self.state, renewed = extend(self.state, now_ms, self.rules, rule.name)
        return float(renewed)


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One simulated call: its plan, the usage the provider reported, cost and timing."""

    provider: str
    model: str
    variant: str
    call: int
    timestamp: int
    plan: CachePlan
    usage: CacheUsage
    output_tokens: int
    cost_usd: float
    latency_ms: int
    ttft_ms: int


@dataclass(slots=True)
class VariantSummary:
    """Totals of one prompt variant on one provider."""

    variant: str
    calls: int = 0
    hits: int = 0
    read_tokens: int = 0
    write_tokens: int = 0
    uncached_tokens: int = 0
    saved_usd: float = 0.0
    write_spend_usd: float = 0.0
    storage_spend_usd: float = 0.0
    input_spend_usd: float = 0.0
    """What the input side cost: uncached, reads, writes and resource storage."""

    @property
    def hit_ratio(self) -> float:
        """Normalized hit ratio (engine.md): read / (read + writes + uncached)."""
        return hit_ratio(self.read_tokens, self.write_tokens, self.uncached_tokens)

    @property
    def net_usd(self) -> float:
        """Savings of caching net of write premiums and storage."""
        return self.saved_usd - self.write_spend_usd - self.storage_spend_usd


@dataclass(slots=True)
class ProviderResult:
    """Both variants on one provider, with the naive prompt's findings and drift."""

    demo: DemoProvider
    structured: VariantSummary
    naive: VariantSummary
    naive_findings: tuple[LintFinding, ...] = ()
    structured_findings: tuple[LintFinding, ...] = ()
    drift_count: int = 0
    drift_example: DriftReport | None = None
    structured_directives: tuple[str, ...] = ()
    naive_directives: tuple[str, ...] = ()

    @property
    def usd_difference(self) -> float:
        """How much less the structured prompt's input side cost than the naive one's."""
        return self.naive.input_spend_usd - self.structured.input_spend_usd


@dataclass(slots=True)
class Simulation:
    """The outcome of ``run_simulation``."""

    calls: int
    seed: int
    interval_seconds: float
    results: list[ProviderResult] = field(default_factory=list)


Progress = Callable[[str, str, int, int], None]
"""progress(provider, variant, done, total), called after each simulated call."""

CallSink = Callable[[CallRecord], None]
"""Receives every simulated call (the CLI writes them to the ledger as runs)."""


# --- the run -------------------------------------------------------------------------


def _describe(plan: CachePlan) -> tuple[str, ...]:
    out = []
    for d in plan.directives:
        if isinstance(d, BreakpointDirective):
            out.append(f"breakpoint {d.segment_id} ttl {d.ttl}")
        elif isinstance(d, RoutingKeyDirective):
            out.append("routing-key" + (f" retention {d.retention}" if d.retention else ""))
        elif isinstance(d, ResourceDirective):
            out.append(f"resource {d.action} ttl {d.ttl_seconds:g}s")
        else:
            out.append("none")
    return tuple(out)


class _Clock:
    """The simulated clock the engine reads (milliseconds since the epoch)."""

    def __init__(self) -> None:
        self.now = SIM_EPOCH_MS

    def __call__(self) -> float:
        return self.now


def _simulate_variant(
    demo: DemoProvider,
    variant: str,
    *,
    calls: int,
    seed: int,
    interval_s: float,
    ledger: Any,
    progress: Progress | None,
    sink: CallSink | None,
) -> tuple[VariantSummary, list[CachePlan], list[DriftReport], Racs]:
    clock = _Clock()
    engine = create_racs(
        pricing={demo.model: dict(demo.pricing)}, seed=seed, clock=clock, ledger=ledger
    )
    profile = engine.profile_of(demo.provider, demo.model)
    rates = engine.prices.rates(demo.provider, demo.model)
    assert rates is not None  # the demonstration passes its own card
    cache = ProviderCache(rules_for(profile), rates.storage_per_mtok_hour)
    summary = VariantSummary(variant)
    plans: list[CachePlan] = []
    # The engine keeps the latest 200 drift reports; count them all as they happen.
    drifted: list[DriftReport] = []
    engine.on(lambda e: drifted.append(e.report) if isinstance(e, PrefixDrifted) else None)
    interval_ms = round(interval_s * 1000)
    for i in range(calls):
        now = SIM_EPOCH_MS + i * interval_ms
        if demo.family == "resource" and i > 0:
            _keep_warm(engine, clock, cache, summary, now - interval_ms, now)
        clock.now = now
        segments = prompt_segments(variant, seed, i, now)
        plan = engine.plan(
            {
                "provider": demo.provider,
                "model": demo.model,
                "agentId": variant,
                "segments": segments,
                "reuse": {"intervalSeconds": interval_s},
            }
        )
        if i == 0:
            plans.append(plan)
        segs = _resolve(segments)
        served = cache.send(segs, plan, now)
        summary.storage_spend_usd += served.storage_usd
        usage = CacheUsage(
            provider=demo.provider,
            model=demo.model,
            input_tokens=segs[-1].cumulative,
            cache_read_tokens=served.read,
            prefix_key=plan.prefix_key,
            timestamp=now,
            agent_id=variant,
            **served.usage_fields(),  # type: ignore[arg-type]  # tier fields: all int
        )
        engine.record(usage)
        tokens = Tokens.of_usage(usage)
        cost = cost_of(tokens, rates)
        uncached = int(tokens.fresh)
        writes = int(tokens.writes)
        rng = random.Random(f"{seed}:output:{i}")
        output_tokens = rng.randint(120, 480)
        summary.calls += 1
        summary.hits += 1 if served.read > 0 else 0
        summary.read_tokens += served.read
        summary.write_tokens += writes
        summary.uncached_tokens += uncached
        summary.saved_usd += cost.saved
        summary.write_spend_usd += cost.write_premium
        summary.input_spend_usd += cost.input
        if sink is not None:
            # Latency model: fresh tokens cost prefill time, cached ones a tenth of it.
            ttft = 180 + (uncached + writes) // 50 + served.read // 500
            sink(
                CallRecord(
                    provider=demo.provider,
                    model=demo.model,
                    variant=variant,
                    call=i,
                    timestamp=now,
                    plan=plan,
                    usage=usage,
                    output_tokens=output_tokens,
                    cost_usd=cost.input + cost_of(Tokens(output=output_tokens), rates).total,
                    latency_ms=ttft + output_tokens * 12,
                    ttft_ms=ttft,
                )
            )
        if progress is not None:
            progress(demo.provider, variant, i + 1, calls)
    summary.input_spend_usd += summary.storage_spend_usd
    return summary, plans, drifted, engine


def _keep_warm(
    engine: Racs,
    clock: _Clock,
    cache: ProviderCache,
    summary: VariantSummary,
    start_ms: int,
    end_ms: int,
) -> None:
    """Act as a host honouring ``engine.schedule()`` between two calls (resources)."""
    tick = KEEPWARM_TICK_S * 1000
    t = start_ms + tick
    while t < end_ms:
        clock.now = t
        for entry in engine.schedule(t):
            if isinstance(entry.ttl, str):
                continue  # a breakpoint entry: this host keeps resources warm only
            ttl_s = float(entry.ttl)
            renewed = cache.refresh(ttl_s, t)
            if renewed:
                engine.mark_refreshed(entry.prefix_key, t)
                summary.storage_spend_usd += storage_usd(renewed, ttl_s, cache.storage_price)
        t += tick


MAX_CALLS: Final = 100_000
"""Calls per prompt at most: about ten minutes and 1.5 GB of ledger for all four families."""
MAX_INTERVAL_S: Final = 86_400
"""A day between calls at most, so simulated time stays within the ledger's time range."""


def run_simulation(
    *,
    calls: int = 200,
    seed: int = 7,
    interval_seconds: float = 60,
    providers: Sequence[str] | None = None,
    ledger: Any = None,
    progress: Progress | None = None,
    sink: CallSink | None = None,
) -> Simulation:
    """Run the structured and the naive prompt ``calls`` times on each demo provider.

    With a ``ledger``, the engines are backed by it, so every usage record is appended
    as a ``cache.usage`` event; ``sink`` receives each call (e.g. to record runs).
    """
    if isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= MAX_CALLS:
        raise invalid(f"calls must be an integer from 1 to {MAX_CALLS}")
    if not (math.isfinite(interval_seconds) and 0 < interval_seconds <= MAX_INTERVAL_S):
        raise invalid(f"interval must be a number of seconds > 0 and <= {MAX_INTERVAL_S}")
    chosen = list(DEMO_PROVIDERS) if providers is None else list(providers)
    demos = [demo_provider(p) for p in chosen]
    sim = Simulation(calls=calls, seed=seed, interval_seconds=interval_seconds)
    for demo in demos:
        runs = {}
        for variant in VARIANTS:
            runs[variant] = _simulate_variant(
                demo,
                variant,
                calls=calls,
                seed=seed,
                interval_s=interval_seconds,
                ledger=ledger,
                progress=progress,
                sink=sink,
            )
        s_summary, s_plans, _, s_engine = runs["structured"]
        n_summary, n_plans, n_drifts, n_engine = runs["naive"]
        sim.results.append(
            ProviderResult(
                demo=demo,
                structured=s_summary,
                naive=n_summary,
                naive_findings=n_plans[0].findings,
                structured_findings=s_plans[0].findings,
                drift_count=len(n_drifts),
                drift_example=n_drifts[-1] if n_drifts else None,
                structured_directives=_describe(s_plans[-1]),
                naive_directives=_describe(n_plans[-1]),
            )
        )
        s_engine.close()
        n_engine.close()
    return sim
