"""The planner: one pure function per adapter family, and the break-even math.

Nothing here reads a clock or holds state; the engine passes in what it knows (the
resource record's liveness) and applies the result to its memories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

from racs.core.accounting import MTOK, Tokens, cost_of, rates_of, storage_usd
from racs.core.model import (
    BreakEven,
    BreakpointDirective,
    CacheDirective,
    LintFinding,
    NoneDirective,
    Pricing,
    ProviderProfile,
    ResourceDirective,
    RoutingKeyDirective,
)
from racs.core.tiers import TIER, TTL_SECONDS
from racs.planning.economics import (
    ceil_or_inf,
    read_multiplier,
    write_economics,
    write_multiplier,
)
from racs.planning.inputs import ResolvedPrompt, ResolvedSeg

ROLE_WEIGHT: Final = {"tools": 4, "system": 3, "documents": 2, "history": 1, "dynamic": 0}

ResourceState = Literal["absent", "live", "due"]


class Outcome(NamedTuple):
    """What the planner decided for one prompt."""

    directives: tuple[CacheDirective, ...]
    findings: tuple[LintFinding, ...]
    break_even: BreakEven | None
    reasoning: str


class Span(NamedTuple):
    """A maximal run of consecutive same-role segments inside the stable run."""

    role: str
    tokens: float
    last_id: str
    last_index: int


def fmt(n: float) -> str:
    """A token or count figure for prose: integral values without a decimal point."""
    if isinstance(n, int):
        return str(n)
    if not math.isfinite(n):
        return "infinite" if n > 0 else str(n)
    return str(int(n)) if n.is_integer() else f"{n:.6g}"


def spans_of(segments: Sequence[ResolvedSeg], boundary: int) -> list[Span]:
    """The stable run split into maximal runs of consecutive same-role segments."""
    spans: list[Span] = []
    role = None
    tokens: float = 0
    for i in range(boundary):
        seg = segments[i]
        if seg.role != role:
            if role is not None:
                spans.append(Span(role, tokens, segments[i - 1].id, i - 1))
            role = seg.role
            tokens = 0
        tokens += seg.tokens
    if role is not None:
        spans.append(Span(role, tokens, segments[boundary - 1].id, boundary - 1))
    return spans


def choose_markers(spans: list[Span], budget: int) -> list[Span]:
    """The deepest span plus the ``budget - 1`` best-weighted others, in request order."""
    deepest = spans[-1]
    others = sorted(
        spans[:-1], key=lambda s: (-ROLE_WEIGHT.get(s.role, 0), -s.tokens, s.last_index)
    )
    chosen = [*others[: max(0, budget - 1)], deepest]
    chosen.sort(key=lambda s: s.last_index)
    return chosen


def _trap(message: str) -> LintFinding:
    return LintFinding("warning", "write-premium-trap", message)


def _none(reason: str, profile: ProviderProfile, *findings: LintFinding) -> Outcome:
    return Outcome((NoneDirective(reason),), tuple(findings), None, _with_notes(reason, profile))


def _with_notes(reasoning: str, profile: ProviderProfile) -> str:
    return f"{reasoning} {profile.notes}" if profile.notes else reasoning


def choose_tier(
    ttls: tuple[str, ...], interval: float | None
) -> tuple[str | None, Literal["default", "window", "band"]]:
    """The TTL tier for a reuse interval, and which regime it falls in."""
    if interval is None:
        if "5m" in ttls:
            return "5m", "default"
        if "1h" in ttls:
            return "1h", "default"
        return min(ttls, key=lambda t: TTL_SECONDS.get(t, math.inf)), "default"
    for ttl in sorted(ttls, key=lambda t: TTL_SECONDS.get(t, math.inf)):
        limit = TIER[ttl].within_seconds if ttl in TIER else None
        if limit is not None and interval <= limit:
            return ttl, "window"
    return max(ttls, key=lambda t: TTL_SECONDS.get(t, 0)), "band"


def block_positions(segments: Sequence[ResolvedSeg]) -> list[int] | None:
    """Lookback position at the end of each segment, when the segments carry block counts."""
    if all(seg.blocks is None for seg in segments):
        return None
    positions = []
    total = 0
    for seg in segments:
        total += seg.blocks if seg.blocks is not None else 1
        positions.append(total)
    return positions


def keep_reachable(
    prompt: ResolvedPrompt,
    spans: list[Span],
    chosen: list[Span],
    budget: int,
    anchor: int,
    lookback: int,
) -> tuple[list[Span], LintFinding | None]:
    """Make sure a marker can find the previous call's entry (Anthropic's lookback rule).

    ``anchor`` is the index of the segment that carried the previous call's deepest
    marker, with everything up to it unchanged. A breakpoint finds an earlier entry only
    within ``lookback`` positions before it; when the new turn pushed the deepest marker
    further away, the anchor itself gets a marker (it then reads the old entry exactly).
    """
    positions = block_positions(prompt.segments)
    if positions is None:
        return chosen, None
    target = positions[anchor]

    def reaches(span: Span) -> bool:
        return 0 <= positions[span.last_index] - target <= lookback

    if any(reaches(span) for span in chosen):
        return chosen, None
    seg = prompt.segments[anchor]
    if budget >= 2 and anchor < prompt.boundary:
        deepest = chosen[-1]
        anchor_span = Span(seg.role, 0, seg.id, anchor)
        others = sorted(
            (s for s in spans[:-1] if s.last_index != anchor),
            key=lambda s: (-ROLE_WEIGHT.get(s.role, 0), -s.tokens, s.last_index),
        )
        kept = [deepest, anchor_span, *others[: budget - 2]]
        kept.sort(key=lambda s: s.last_index)
        return kept, None
    return chosen, LintFinding(
        "warning",
        "lookback-miss",
        f"the previous call's cache entry ends at position {target}, more than {lookback} "
        f"positions before every breakpoint of this call; it cannot be found again (a "
        "breakpoint needs a free slot near it)",
        seg.id,
    )


def plan_breakpoint(
    prompt: ResolvedPrompt,
    profile: ProviderProfile,
    pricing: Pricing | None,
    anchor: int | None = None,
) -> Outcome:
    """Breakpoint family (Anthropic, Bedrock, ...): markers, TTL tier, break-even.

    ``anchor``: the segment index of the lineage's previous deepest marker, when the prefix
    up to it is unchanged (used only with block counts and a lookback limit).
    """
    stable = prompt.stable_tokens
    min_tokens = profile.min_cacheable_tokens or 0
    if stable < min_tokens:
        return _none(
            f"stable prefix of {fmt(stable)} tokens is below the {fmt(min_tokens)}-token "
            f"minimum of {profile.id}; the provider would not cache it.",
            profile,
        )
    spans = spans_of(prompt.segments, prompt.boundary)
    if not spans:
        start_findings: list[LintFinding] = []
        first = prompt.segments[0]
        if first.stability == "volatile":
            start_findings.append(
                LintFinding(
                    "error",
                    "breakpoint-after-volatile",
                    f"the prompt starts with volatile segment {first.id!r}: any breakpoint "
                    "would follow it and its span could never be read back",
                    first.id,
                )
            )
        return _none("no stable segment precedes the first volatile one.", profile, *start_findings)
    budget = profile.max_breakpoints if profile.max_breakpoints is not None else 1
    if budget <= 0:
        return _none(f"{profile.id} allows no breakpoints.", profile)
    # A profile that names no tier (a custom breakpoint provider) gets the 5m breakpoint
    # every breakpoint provider offers, as @takk/racs plans it.
    ttls = profile.ttls or ("5m",)
    interval = prompt.interval
    cph = prompt.calls_per_hour
    r = read_multiplier(profile, pricing)
    tier, regime = choose_tier(ttls, interval)
    assert tier is not None
    ttl_s = TTL_SECONDS.get(tier, 0)
    refreshes_per_hour = 3600 / ttl_s if ttl_s else math.inf
    if regime == "band":
        keeps = (
            r is not None and r < 1 and cph is not None and cph * (1 - r) > refreshes_per_hour * r
        )
        if not keeps:
            reason = (
                f"reuse interval exceeds provider TTL: {fmt(interval or 0)} s between calls "
                f"outlasts the widest {profile.id} tier ({tier}), and keep-warm touches "
                f"would cost more than the reads save."
            )
            return _none(
                reason,
                profile,
                _trap(
                    f"reuse every {fmt(interval or 0)} s is beyond the {tier} TTL: each call "
                    "would pay the write premium again; caching this prefix loses money"
                ),
            )
    chosen = choose_markers(spans, budget)
    findings: list[LintFinding] = []
    if anchor is not None and profile.lookback_positions:
        chosen, miss = keep_reachable(
            prompt, spans, chosen, budget, anchor, profile.lookback_positions
        )
        if miss is not None:
            findings.append(miss)
    directives = tuple(BreakpointDirective(span.last_id, tier) for span in chosen)
    covered = stable  # the deepest span ends the stable run
    if regime == "default":
        why_tier = f"no reuse declared, so the {tier} default tier"
    elif regime == "window":
        why_tier = f"calls every {fmt(interval or 0)} s fit inside the {tier} TTL"
    else:
        why_tier = (
            f"calls every {fmt(interval or 0)} s outlast every tier; the widest ({tier}) is "
            f"kept warm with {fmt(refreshes_per_hour)} touches per hour"
        )
    reasoning = (
        f"{len(directives)} breakpoint(s) on {', '.join(repr(s.last_id) for s in chosen)} "
        f"covering {fmt(covered)} stable tokens of {fmt(prompt.total_tokens)}; {why_tier}."
    )
    w = write_multiplier(profile, pricing, tier)
    break_even = None
    if w is not None and r is not None:
        premium, savings, min_reuses = write_economics(covered, w, r)
        if regime == "default":
            profitable = min_reuses <= 1
            rule = "with no declared reuse it must pay back on the first reuse"
        elif regime == "window":
            profitable = math.isfinite(min_reuses)
            rule = "reads inside the TTL refresh it for free"
        else:
            assert cph is not None and r is not None
            net = savings - (refreshes_per_hour / cph) * covered * r
            min_reuses = ceil_or_inf(premium / net) if net > 0 else math.inf
            profitable = net > 0
            rule = (
                f"keep-warm costs {fmt(refreshes_per_hour)}/{fmt(cph)} of a read per call, "
                f"net saving {fmt(net)} tokens per call"
            )
        be_reason = (
            f"write premium {fmt(covered)} x ({fmt(w)} - 1) = {fmt(premium)} tokens; each read "
            f"saves {fmt(covered)} x (1 - {fmt(r)}) = {fmt(savings)} tokens; "
            f"{fmt(min_reuses)} reuse(s) to profit; {rule}."
        )
        break_even = BreakEven(premium, min_reuses, profitable, be_reason)
        if not profitable:
            findings.append(
                _trap(
                    f"the {tier} write premium of {fmt(premium)} tokens is not paid back by the "
                    "declared reuse; caching this prefix loses money"
                )
            )
    return Outcome(directives, tuple(findings), break_even, _with_notes(reasoning, profile))


def plan_routing_key(prompt: ResolvedPrompt, profile: ProviderProfile, prefix_key: str) -> Outcome:
    """Routing-key family (OpenAI, xAI, ...): one key, extended retention when useful."""
    interval = prompt.interval
    retention = None
    options = profile.retention_options
    reasoning = f"route with prompt cache key {prefix_key} so identical prefixes share a cache"
    if options is not None and tuple(options) == ("24h",):
        # Improvement: a model that accepts only extended retention (gpt-5.5) refuses
        # in_memory, so 24h is sent whatever the cadence.
        retention = "24h"
        reasoning += f"; {profile.catalog_entry or profile.id} accepts only 24h retention"
    elif (
        profile.supports_retention
        and (options is None or "24h" in options)
        and interval is not None
        and interval > 3600
    ):
        retention = "24h"
        reasoning += (
            f"; calls every {fmt(interval or 0)} s outlast in-memory retention, ask for 24h"
        )
    min_tokens = profile.min_cacheable_tokens or 0
    if prompt.stable_tokens < min_tokens:
        reasoning += (
            f"; the {fmt(prompt.stable_tokens)}-token stable prefix is below the "
            f"{fmt(min_tokens)}-token minimum, so expect no hits yet"
        )
    return Outcome(
        (RoutingKeyDirective(prefix_key, retention),),
        (),
        None,
        _with_notes(reasoning + ".", profile),
    )


def plan_resource(
    prompt: ResolvedPrompt,
    profile: ProviderProfile,
    pricing: Pricing | None,
    prefix_key: str,
    state: ResourceState,
) -> Outcome:
    """Resource family (Gemini cachedContents): lifecycle action, TTL, storage break-even."""
    interval = prompt.interval
    ttl_seconds: float = 3600 if interval is None else min(3600.0, max(300.0, 4 * interval))
    if isinstance(ttl_seconds, float) and ttl_seconds.is_integer():
        ttl_seconds = int(ttl_seconds)
    stable = prompt.stable_tokens
    min_tokens = profile.min_cacheable_tokens or 0
    if stable < min_tokens:
        return _none(
            f"stable prefix of {fmt(stable)} tokens is below the {fmt(min_tokens)}-token "
            f"minimum of {profile.id}; creating a cached resource would be rejected.",
            profile,
        )
    cph = prompt.calls_per_hour if prompt.calls_per_hour is not None else 1
    break_even = _storage_break_even(stable, cph, profile, pricing)
    if cph < 1:
        # The storage trap still reports its numbers (engine.md's resource formulas), as
        # @takk/racs does: what it would take for the resource to pay.
        trapped = _none(
            f"storage trap: {fmt(cph)} calls per hour cannot pay for an hour of storage.",
            profile,
            _trap(
                f"at {fmt(cph)} calls per hour the resource's storage costs more than the "
                "reads save; caching this prefix loses money"
            ),
        )
        return trapped._replace(break_even=break_even)
    action: Literal["create", "reuse", "refresh"]
    action = "create" if state == "absent" else ("refresh" if state == "due" else "reuse")
    directive = ResourceDirective(action, prefix_key, ttl_seconds)
    reasoning = (
        f"{action} cached content {prefix_key} holding {fmt(stable)} stable tokens for "
        f"{fmt(ttl_seconds)} s."
    )
    findings: list[LintFinding] = []
    if break_even is not None and not break_even.profitable:
        findings.append(
            _trap(
                f"{fmt(cph)} calls per hour do not pay for the storage "
                f"({fmt(break_even.min_reuses_to_profit)} needed); caching this prefix loses money"
            )
        )
    return Outcome((directive,), tuple(findings), break_even, _with_notes(reasoning, profile))


def _storage_break_even(
    stable: float, cph: float, profile: ProviderProfile, pricing: Pricing | None
) -> BreakEven | None:
    """Storage break-even of a resource (needs the model's pricing), engine.md section 5.

    Dollars through ``racs.core.accounting``: what a read saves is the difference of two
    ``cost_of`` (the stable tokens sent fresh, read), storage is ``storage_usd``.
    """
    if pricing is None:
        return None
    rates = rates_of(pricing, profile)
    if pricing.cache_read_per_mtok is None and read_multiplier(profile, pricing) is None:
        return None
    storage = rates.storage_per_mtok_hour
    if storage is None:
        return None
    save_call = (
        cost_of(Tokens(fresh=stable), rates).total - cost_of(Tokens(read=stable), rates).total
    )
    if save_call <= 0:
        return None
    storage_hour = storage_usd(stable, 3600, storage)
    per_input_token = cost_of(Tokens(fresh=MTOK), rates).total / MTOK
    premium_tokens = storage_hour / per_input_token
    min_reuses = ceil_or_inf(storage_hour / save_call)
    return BreakEven(
        premium_tokens,
        min_reuses,
        cph >= min_reuses,
        f"storage {fmt(stable)} tokens x {fmt(storage)} USD/MTok-hour = "
        f"{storage_hour:.6g} USD per hour; each call saves {save_call:.6g} USD; "
        f"{fmt(min_reuses)} call(s) per hour to profit, {fmt(cph)} declared.",
    )


def plan_passive(profile: ProviderProfile) -> Outcome:
    """Passive family: nothing to send; ordering and accounting are the whole value."""
    return _none(
        f"{profile.id} caches automatically with no control surface; keep stable segments "
        "first and account the usage.",
        profile,
    )


def _with_routing_key(outcome: Outcome, prefix_key: str) -> Outcome:
    """Breakpoint providers that also route by key (GPT-5.6+) get the key as well."""
    key = RoutingKeyDirective(prefix_key)
    kept = tuple(d for d in outcome.directives if not isinstance(d, NoneDirective))
    return outcome._replace(
        directives=(*kept, key),
        reasoning=f"{outcome.reasoning} Also route with prompt cache key {prefix_key}.",
    )


def plan_family(
    prompt: ResolvedPrompt,
    profile: ProviderProfile,
    pricing: Pricing | None,
    prefix_key: str,
    resource_state: ResourceState = "absent",
    anchor: int | None = None,
) -> Outcome:
    """Dispatch to the planner of the profile's family."""
    family = profile.family
    if family == "breakpoint":
        outcome = plan_breakpoint(prompt, profile, pricing, anchor)
        if profile.routing_key:
            outcome = _with_routing_key(outcome, prefix_key)
        return outcome
    if family == "routing-key":
        return plan_routing_key(prompt, profile, prefix_key)
    if family == "resource":
        return plan_resource(prompt, profile, pricing, prefix_key, resource_state)
    return plan_passive(profile)
