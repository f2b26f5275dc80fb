"""Turn a learned choice into the plan: directives, break-even, findings, reasoning."""

from __future__ import annotations

from dataclasses import replace

from racs.core.model import (
    BreakEven,
    BreakpointDirective,
    LintFinding,
    NoneDirective,
    Pricing,
    ProviderProfile,
    ResourceDirective,
    RoutingKeyDirective,
)
from racs.learning.policy import Choice, describe_options
from racs.planning.economics import read_multiplier, write_economics, write_multiplier
from racs.planning.planner import Outcome, fmt

TRAP = "write-premium-trap"


def _notes(text: str, profile: ProviderProfile) -> str:
    return f"{text} {profile.notes}" if profile.notes else text


def _trap(message: str) -> LintFinding:
    return LintFinding("warning", TRAP, message)


def _without_traps(outcome: Outcome) -> tuple[LintFinding, ...]:
    return tuple(f for f in outcome.findings if f.code != TRAP)


def cold(outcome: Outcome, gaps: int) -> Outcome:
    """The reference decision, saying why it stands."""
    return outcome._replace(
        reasoning=f"{outcome.reasoning} Learned reuse: {gaps} gap(s) seen on this lineage, "
        "too few to learn from; the reference decision stands."
    )


def break_even(
    tier: str,
    profile: ProviderProfile,
    card: Pricing | None,
    prefix_tokens: float,
    profitable: bool,
) -> BreakEven:
    """The break-even of a write of ``tier``: the planner's multipliers and arithmetic
    (``racs.planning.economics``), the learned policy's verdict."""
    w = write_multiplier(profile, card, tier)
    r = read_multiplier(profile, card)
    w = 1.0 if w is None else w  # no multiplier known anywhere: the input price, no premium
    r = 1.0 if r is None else r
    premium, savings, min_reuses = write_economics(prefix_tokens, w, r)
    verdict = "pays" if profitable else "does not pay"
    return BreakEven(
        premium,
        min_reuses,
        profitable,
        f"write premium {fmt(prefix_tokens)} x ({fmt(w)} - 1) = {fmt(premium)} tokens; each "
        f"read saves {fmt(savings)} tokens; {fmt(min_reuses)} reuse(s) to profit; under the "
        f"learned gaps the {tier} write {verdict} against no write.",
    )


def breakpoint_plan(
    outcome: Outcome,
    choice: Choice,
    observed: str,
    card: Pricing | None,
    profile: ProviderProfile,
    prefix_tokens: float,
    priced: bool,
    break_evens: dict[tuple[str, float, bool], BreakEven] | None = None,
) -> Outcome:
    """Breakpoint directives re-tiered (or dropped for no write) as the choice says.

    ``break_evens`` caches break-even values by (tier, tokens, verdict): a plan is on the
    engine's hot path and a fixed prefix asks the same question every call.
    """
    tier = choice.tier
    costs = describe_options(choice, priced, "this call and the next use of the prefix")
    findings = outcome.findings
    if findings:
        findings = _without_traps(outcome)
    if tier is None:
        reason = f"no cache write: {observed}; {costs}; writing would not pay back."
        kept = tuple(d for d in outcome.directives if isinstance(d, RoutingKeyDirective))
        trap = _trap(
            "the learned reuse of this prefix does not pay back a cache write; caching it "
            "loses money"
        )
        return Outcome(
            (NoneDirective(reason), *kept), (*findings, trap), None, _notes(reason, profile)
        )
    directives = outcome.directives
    # One pass: the markers' ids, and whether any marker needs the learned tier.
    ids = []
    retier = False
    for d in directives:
        if isinstance(d, BreakpointDirective):
            ids.append(repr(d.segment_id))
            retier = retier or d.ttl != tier
    if retier:
        directives = tuple(
            replace(d, ttl=tier) if isinstance(d, BreakpointDirective) else d for d in directives
        )
    pick = choice.pick
    touches = pick.touches
    warm = f", kept warm with up to {touches} touch(es) while idle" if touches else ""
    notes = f" {profile.notes}" if profile.notes else ""
    reasoning = (
        f"{len(ids)} breakpoint(s) on {', '.join(ids)} covering {fmt(prefix_tokens)} stable "
        f"tokens, tier {tier}{warm}: {observed}; {costs}.{notes}"
    )
    profitable = pick.cost < choice.options[-1].cost
    key = (tier, prefix_tokens, profitable)
    found = break_evens.get(key) if break_evens is not None else None
    if found is None:
        found = break_even(tier, profile, card, prefix_tokens, profitable)
        if break_evens is not None:
            if len(break_evens) > 1024:
                break_evens.clear()
            break_evens[key] = found
    if not profitable:
        findings = (*findings, _trap(f"the learned reuse does not pay back the {tier} write"))
    return Outcome(directives, findings, found, reasoning)


def resource_plan(
    outcome: Outcome, choice: Choice, observed: str, profile: ProviderProfile, priced: bool
) -> Outcome:
    """The resource directive with the learned lifetime, or none when storage does not pay."""
    costs = describe_options(choice, priced, "the next use of the prefix")
    findings = _without_traps(outcome)
    if choice.tier is None:
        reason = f"no cached resource: {observed}; {costs}; storage would not pay back."
        trap = _trap("the learned reuse of this prefix does not pay for the resource's storage")
        return Outcome((NoneDirective(reason),), (*findings, trap), None, _notes(reason, profile))
    ttl = int(choice.tier.removesuffix("s"))
    directives = tuple(
        replace(d, ttl_seconds=ttl) if isinstance(d, ResourceDirective) else d
        for d in outcome.directives
    )
    action = next(
        (d.action for d in outcome.directives if isinstance(d, ResourceDirective)), "create"
    )
    reasoning = f"{action} cached content for {fmt(ttl)} s: {observed}; {costs}."
    return Outcome(directives, findings, outcome.break_even, _notes(reasoning, profile))


def routing_plan(
    outcome: Outcome, extended: bool, share: float, observed: str, profile: ProviderProfile
) -> Outcome:
    """The routing-key directive with 24h retention exactly when some learned gap needs it."""
    directives = tuple(
        replace(d, retention="24h" if extended else None)
        if isinstance(d, RoutingKeyDirective)
        else d
        for d in outcome.directives
    )
    if extended:
        why = (
            f"{share:.0%} of the learned gaps outlast in-memory retention but not 24h, and 24h "
            "retention costs nothing extra: ask for 24h"
        )
    else:
        why = "no learned gap falls between in-memory retention and 24h: in-memory retention"
    key = next((d.key for d in directives if isinstance(d, RoutingKeyDirective)), "")
    reasoning = f"route with prompt cache key {key}: {observed}; {why}."
    return outcome._replace(directives=directives, reasoning=_notes(reasoning, profile))
