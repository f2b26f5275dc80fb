"""A deterministic structured-versus-naive prompt-cache demonstration.

Two prompts carry the same content. The structured one puts tools, system and documents
first (stable), history next (semi) and the live turn last (volatile). The naive one
stamps the time into the system prompt and puts the live turn before the tools. Both are
planned by a real engine and "sent" to a small simulated provider cache per adapter
family, which turns directives, segments and simulated time into the all-in CacheUsage a
real provider would report. Nothing reads the wall clock or the network: the clock starts
at ``SIM_EPOCH_MS`` and advances ``interval`` seconds per call, and all text is generated
from the seed, so identical options give identical results.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from racs.core.accounting import Tokens, cost_of, hit_ratio, rates_of, storage_usd
from racs.core.errors import invalid
from racs.core.facts import PROVIDERS
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
from racs.core.profiles import SHIPPED_PROFILES
from racs.core.tiers import DEFAULT_TIER, TIER, seconds_of
from racs.core.tiers import known as known_tier
from racs.engine import Racs, create_racs

SIM_EPOCH_MS: Final = 1_767_225_600_000
"""2026-01-01T00:00:00Z: where the simulated clock starts."""

KEEPWARM_TICK_S: Final = 15
"""How often (simulated seconds) the simulated host checks its keep-warm schedule."""

VARIANTS: Final = ("structured", "naive")


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """A representative provider of one adapter family, with illustrative prices."""

    provider: str
    family: str
    model: str
    pricing: Mapping[str, float]
    retention_seconds: int
    """Idle retention of the provider's automatic prefix cache (prefix families)."""
    step_tokens: int
    """Granularity of automatic prefix caching (OpenAI counts in 128-token steps)."""


DEMO_PRICING_NOTE: Final = (
    "USD figures use illustrative list prices (USD per million tokens), not a quote; "
    "pass your own pricing to the engine for real numbers."
)

DEMO_PROVIDERS: Final[Mapping[str, DemoProvider]] = {
    "anthropic": DemoProvider(
        "anthropic",
        "breakpoint",
        "claude-sonnet-4-5",
        {
            "inputPerMTok": 3.0,
            "cacheReadPerMTok": 0.3,
            "cacheWrite5mPerMTok": 3.75,
            "cacheWrite1hPerMTok": 6.0,
            "outputPerMTok": 15.0,
        },
        retention_seconds=0,
        step_tokens=1,
    ),
    "openai": DemoProvider(
        "openai",
        "routing-key",
        "gpt-4.1",
        {"inputPerMTok": 2.0, "cacheReadPerMTok": 0.5, "outputPerMTok": 8.0},
        retention_seconds=600,
        step_tokens=128,
    ),
    "google": DemoProvider(
        "google",
        "resource",
        "gemini-2.5-pro",
        {
            "inputPerMTok": 1.25,
            "cacheReadPerMTok": 0.125,
            "storagePerMTokHour": 4.5,
            "outputPerMTok": 10.0,
        },
        retention_seconds=0,
        step_tokens=1,
    ),
    "deepseek": DemoProvider(
        "deepseek",
        "passive",
        "deepseek-chat",
        {"inputPerMTok": 0.28, "cacheReadPerMTok": 0.028, "outputPerMTok": 0.42},
        retention_seconds=4 * 3600,
        step_tokens=64,
    ),
}
"""One provider per adapter family, in the order the demonstration runs them."""

DEMO_MODELS: Final[Mapping[str, str]] = {
    "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "microsoft-foundry": "claude-sonnet-4-5",
    "hermes": "hermes-4-405b",
    "xai": "grok-4",
    "mistral": "mistral-large-latest",
    "openrouter": "openai/gpt-4.1",
    "moonshot": "kimi-k2",
    "groq": "llama-3.3-70b-versatile",
    "ollama": "llama3.1:8b",
    "lmstudio": "qwen2.5-7b-instruct",
    "huggingface": "meta-llama/Llama-3.1-8B-Instruct",
    "custom": "custom-model",
}
"""A representative model of every other provider (each simulated like its family's
representative, with the same illustrative prices)."""


def demo_provider(provider: str) -> DemoProvider:
    """The demonstration setup of any of the sixteen providers."""
    demo = DEMO_PROVIDERS.get(provider)
    if demo is not None:
        return demo
    profile = SHIPPED_PROFILES.get(provider)
    if profile is None or provider not in DEMO_MODELS:
        raise invalid(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    template = next(d for d in DEMO_PROVIDERS.values() if d.family == profile.family)
    return replace(template, provider=provider, model=DEMO_MODELS[provider])


RETENTION_24H_S: Final = 24 * 3600


# --- prompt content ------------------------------------------------------------------

_WORDS: Final = (
    "agent",
    "account",
    "answer",
    "audit",
    "balance",
    "billing",
    "budget",
    "cache",
    "careful",
    "check",
    "client",
    "concise",
    "context",
    "contract",
    "customer",
    "detail",
    "document",
    "error",
    "escalate",
    "evidence",
    "explain",
    "invoice",
    "ledger",
    "limit",
    "local",
    "manual",
    "order",
    "payment",
    "policy",
    "prefer",
    "priority",
    "quote",
    "record",
    "refund",
    "reply",
    "request",
    "review",
    "route",
    "safety",
    "schedule",
    "search",
    "source",
    "state",
    "status",
    "summary",
    "support",
    "ticket",
    "tool",
    "update",
    "verify",
    "warranty",
    "window",
)


def _prose(rng: random.Random, words: int) -> str:
    """Deterministic filler text: sentences of vocabulary words, no digits or ids."""
    out: list[str] = []
    sentence: list[str] = []
    for _ in range(words):
        sentence.append(rng.choice(_WORDS))
        if len(sentence) >= rng.randint(8, 16):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class _Content:
    tools: str
    system: str
    documents: str
    history: str


@functools.lru_cache(maxsize=8)
def _content(seed: int) -> _Content:
    rng = random.Random(seed)
    tools = "\n".join(
        f'{{"name": "{name}", "description": "{_prose(rng, 180)}"}}'
        for name in ("lookup_order", "issue_refund", "search_policy", "escalate_ticket")
    )
    return _Content(
        tools=tools,
        system="You are the support agent of a store. " + _prose(rng, 480),
        documents=_prose(rng, 2800),
        history=_prose(rng, 900),
    )


def _turn(seed: int, call: int) -> str:
    rng = random.Random(f"{seed}:turn:{call}")
    return f"Customer message {call + 1}: " + _prose(rng, rng.randint(30, 60))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prompt_segments(variant: str, seed: int, call: int, now_ms: int) -> list[dict[str, Any]]:
    """The segments (wire form) of one call of the structured or the naive prompt."""
    c = _content(seed)
    turn = {"id": "turn", "role": "dynamic", "stability": "volatile", "content": _turn(seed, call)}
    tools = {"id": "tools", "role": "tools", "stability": "stable", "content": c.tools}
    docs = {"id": "documents", "role": "documents", "stability": "stable", "content": c.documents}
    history = {"id": "history", "role": "history", "stability": "semi", "content": c.history}
    if variant == "structured":
        system = {"id": "system", "role": "system", "stability": "stable", "content": c.system}
        return [tools, system, docs, history, turn]
    # The two classic mistakes: a clock in the "stable" system prompt, and the live
    # turn placed before the tools.
    stamped = f"Current time: {_iso(now_ms)}. " + c.system
    system = {"id": "system", "role": "system", "stability": "stable", "content": stamped}
    return [system, turn, tools, docs, history]


# --- provider caches -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Seg:
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


@dataclass(slots=True)
class _Served:
    read: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    """Tokens written per tier."""

    def usage_fields(self) -> dict[str, int]:
        """``CacheUsage`` keyword arguments of the writes."""
        return {TIER[t].usage_field: n for t, n in self.writes.items()}


class BreakpointCache:
    """Anthropic-style caching: an entry per marker, reads refresh, writes up to the deepest."""

    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self.expires: dict[str, int] = {}

    def serve(self, segs: list[_Seg], plan: CachePlan, now_ms: int) -> _Served:
        """Read the longest live marker prefix, write the rest up to the deepest marker."""
        index = {s.id: i for i, s in enumerate(segs)}
        markers = sorted(
            (index[d.segment_id], d.ttl)
            for d in plan.directives
            if isinstance(d, BreakpointDirective) and d.segment_id in index
        )
        # The provider silently ignores a marker whose prefix is below its minimum.
        markers = [(i, ttl) for i, ttl in markers if segs[i].cumulative >= self.min_tokens]
        served = _Served()
        read_at = -1
        for i, ttl in reversed(markers):
            h = segs[i].prefix_hash
            if self.expires.get(h, -1) > now_ms:
                read_at = i
                served.read = segs[i].cumulative
                self.expires[h] = now_ms + _ttl_ms(ttl)
                break
        covered = served.read
        for i, ttl in markers:
            if i <= read_at:
                continue
            tokens = segs[i].cumulative - covered
            covered = segs[i].cumulative
            tier = ttl if known_tier(ttl) else DEFAULT_TIER
            served.writes[tier] = served.writes.get(tier, 0) + tokens
            self.expires[segs[i].prefix_hash] = now_ms + _ttl_ms(ttl)
        return served


class PrefixCache:
    """Automatic prefix caching of identical leading segments (routing-key and passive)."""

    def __init__(self, min_tokens: int, step: int, retention_s: int) -> None:
        self.min_tokens = min_tokens
        self.step = step
        self.retention_s = retention_s
        self.expires: dict[tuple[str, str], int] = {}

    def serve(self, segs: list[_Seg], plan: CachePlan, now_ms: int) -> _Served:
        """Read the longest live identical prefix (in whole steps), then retain this one."""
        route = ""
        retention = self.retention_s
        for d in plan.directives:
            if isinstance(d, RoutingKeyDirective):
                # A routing key partitions the provider's caches: only requests sent with
                # the same key land on the machine holding the prefix.
                route = d.key
                if d.retention == "24h":
                    retention = RETENTION_24H_S
        served = _Served()
        for s in reversed(segs):
            if self.expires.get((route, s.prefix_hash), -1) > now_ms:
                cached = s.cumulative // self.step * self.step
                served.read = cached if cached >= self.min_tokens else 0
                break
        for s in segs:
            self.expires[(route, s.prefix_hash)] = now_ms + retention * 1000
        return served


class ResourceCache:
    """Gemini-style cachedContents: created, read while alive, refreshed, expired."""

    def __init__(self) -> None:
        self.expires: dict[str, int] = {}

    def serve(self, plan: CachePlan, now_ms: int) -> tuple[_Served, ResourceDirective | None]:
        """Apply the plan's resource action; reads the cached prefix unless it was created."""
        served = _Served()
        for d in plan.directives:
            if not isinstance(d, ResourceDirective):
                continue
            alive = self.expires.get(d.resource_key, -1) > now_ms
            ttl_ms = int(d.ttl_seconds * 1000)
            if d.action == "create" or not alive:
                # Creating the resource sends the prefix once at the full input price.
                self.expires[d.resource_key] = now_ms + ttl_ms
                return served, d
            if d.action == "refresh":
                self.expires[d.resource_key] = now_ms + ttl_ms
            served.read = int(plan.stable_tokens)
            return served, d
        return served, None

    def refresh(self, key: str, ttl_s: float, now_ms: int) -> bool:
        """The host's keep-warm TTL update; False when the resource already expired."""
        if self.expires.get(key, -1) <= now_ms:
            return False
        self.expires[key] = now_ms + int(ttl_s * 1000)
        return True


def _ttl_ms(ttl: str) -> int:
    return seconds_of(ttl) * 1000


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
    min_tokens = int(profile.min_cacheable_tokens or 0)
    pricing = engine.pricing[demo.model]
    rates = rates_of(pricing, profile)
    out_price = rates.output or 0.0
    bp = BreakpointCache(min_tokens)
    pc = PrefixCache(max(min_tokens, demo.step_tokens), demo.step_tokens, demo.retention_seconds)
    rc = ResourceCache()
    summary = VariantSummary(variant)
    plans: list[CachePlan] = []
    # The engine keeps the latest 200 drift reports; count them all as they happen.
    drifted: list[DriftReport] = []
    engine.on(lambda e: drifted.append(e.report) if isinstance(e, PrefixDrifted) else None)
    storage_price = rates.storage_per_mtok_hour or 0.0
    interval_ms = round(interval_s * 1000)
    for i in range(calls):
        now = SIM_EPOCH_MS + i * interval_ms
        if demo.family == "resource" and i > 0:
            _keep_warm(engine, clock, rc, summary, now - interval_ms, now, storage_price)
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
        if demo.family == "breakpoint":
            served = bp.serve(segs, plan, now)
        elif demo.family == "resource":
            served, directive = rc.serve(plan, now)
            if directive is not None and directive.action in ("create", "refresh"):
                summary.storage_spend_usd += storage_usd(
                    plan.stable_tokens, directive.ttl_seconds, storage_price
                )
        else:
            served = pc.serve(segs, plan, now)
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
        saved, spend = cost.saved, cost.write_premium
        uncached = int(tokens.fresh)
        writes = int(tokens.writes)
        input_usd = cost.input
        rng = random.Random(f"{seed}:output:{i}")
        output_tokens = rng.randint(120, 480)
        summary.calls += 1
        summary.hits += 1 if served.read > 0 else 0
        summary.read_tokens += served.read
        summary.write_tokens += writes
        summary.uncached_tokens += uncached
        summary.saved_usd += saved
        summary.write_spend_usd += spend
        summary.input_spend_usd += input_usd
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
                    cost_usd=input_usd + output_tokens * out_price / 1e6,
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
    rc: ResourceCache,
    summary: VariantSummary,
    start_ms: int,
    end_ms: int,
    storage_price: float,
) -> None:
    """Act as a host honouring ``engine.schedule()`` between two calls (resources)."""
    tick = KEEPWARM_TICK_S * 1000
    t = start_ms + tick
    while t < end_ms:
        clock.now = t
        for entry in engine.schedule(t):
            ttl_s = float(entry.ttl) if not isinstance(entry.ttl, str) else 300.0
            if rc.refresh(entry.prefix_key, ttl_s, t):
                engine.mark_refreshed(entry.prefix_key, t)
                tokens = _resource_tokens(engine, entry.prefix_key)
                summary.storage_spend_usd += storage_usd(tokens, ttl_s, storage_price)
        t += tick


def _resource_tokens(engine: Racs, key: str) -> float:
    for record in engine.snapshot()["data"]["resources"]:
        if record["resourceKey"] == key:
            return float(record["tokens"])
    return 0.0


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
