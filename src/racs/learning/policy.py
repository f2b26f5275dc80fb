"""The learned policy: pick the option of least expected cost under the learned gaps.

Pure functions of what was learned (folded sums or bin weights) and the model's rates; no
clock, no state. ``racs.learning.live`` feeds them from the engine, ``racs.replay.learned``
from recorded traffic, so both decide with the same code.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

from racs.core.accounting import Rates
from racs.core.model import ProviderProfile
from racs.learning.costs import KEEPWARM_TOUCHES, BreakpointTable, prices_of, resource_cost
from racs.learning.gaps import representative
from racs.learning.hedge import Limits
from racs.planning.planner import fmt

PRIOR_WEIGHT: Final = 3.0
"""A declared reuse interval counts as this many gaps observed at that interval (never decays)."""
WARM_GAPS: Final = 1
"""Gaps a lineage must have shown before its own learning replaces the reference decision
(what it may risk on that learning is the hedge's to say: ``racs.learning.hedge``)."""
_TIE: Final = 1e-9


class Option(NamedTuple):
    """One option's expected cost: tier (or ``none``), cost, keep-warm budget."""

    name: str
    cost: float
    touches: int = 0


class Choice(NamedTuple):
    """What the policy chose and every option it weighed (in the order compared)."""

    pick: Option
    options: tuple[Option, ...]

    @property
    def tier(self) -> str | None:
        """The chosen tier, ``None`` for no write."""
        return None if self.pick.name == "none" else self.pick.name

    def option(self, name: str) -> Option | None:
        """The option called ``name``, if it was weighed."""
        return next((o for o in self.options if o.name == name), None)


def _cheapest(options: Sequence[Option]) -> Option:
    """The first option within a relative tie of the minimum (options come in preference order)."""
    low = min([o.cost for o in options])
    bar = low + abs(low) * _TIE if low < 0 else low * (1 + _TIE)
    for o in options:
        if o.cost <= bar:
            return o
    raise ValueError("no option to choose from")


_NK: Final = len(KEEPWARM_TOUCHES)


def choose_tier(
    table: BreakpointTable,
    sums: Sequence[float],
    prefix_tokens: float,
    written_tokens: float,
    limits: Limits | None = None,
    current: str | None = None,
) -> Choice:
    """Breakpoint tier and keep-warm budget of least expected cost.

    Compared per option: this call (the part already cached read, ``written_tokens`` written
    at the tier's price) plus the expected cost of the prefix at its next use under the
    learned gaps; against no write, where both calls pay the input price. Ties go to the
    shorter tier, then to no write.

    ``limits`` (``racs.learning.hedge``): what an option may lose against the shortest tier
    without keep-warm; options beyond them are not offered (the shortest tier without
    touches always is). ``current``: the tier of the entry this call reads; when the call
    writes nothing, that entry's tier is the one that lives on, whatever the marker says.
    """
    rates = table.rates
    total = sums[-1]
    reused = prefix_tokens - written_tokens if prefix_tokens > written_tokens else 0.0
    now = reused * rates.read
    per = prefix_tokens / total if total > 0 else 0.0
    touch = prefix_tokens * rates.read
    ref = table.writes[0][1]
    options = []
    start = 0
    fixed = current if written_tokens <= 0 and current in table.tiers else None
    for tier, price in table.writes:
        top = _NK
        if fixed is not None and tier != fixed:
            start += _NK
            continue
        if limits is not None:
            premium = written_tokens * (price - ref)
            if premium > limits.premium * (1 + _TIE) + _TIE:
                start += _NK
                continue
            room = limits.touches - premium
            top = 1
            while top < _NK and KEEPWARM_TOUCHES[top] * touch <= room * (1 + _TIE) + _TIE:
                top += 1
        # A plain scan of the tier's budgets (first minimum wins, as min() then index()).
        low = sums[start]
        at = 0
        for i in range(1, top):
            c = sums[start + i]
            if c < low:
                low, at = c, i
        start += _NK
        later = per * low if total > 0 else prefix_tokens * price
        options.append(Option(tier, now + written_tokens * price + later, KEEPWARM_TOUCHES[at]))
    none = Option("none", 2 * prefix_tokens * rates.input, 0)
    options.append(none)
    # No write may lose the new suffix's read at the next use (it must be written then).
    if limits is not None and written_tokens * (rates.input - rates.read) > limits.none + _TIE:
        return Choice(_cheapest(options[:-1]), tuple(options))
    return Choice(_cheapest(options), tuple(options))


def within(sums: Sequence[float]) -> tuple[float, float, float]:
    """Fractions of the learned gap weight inside 5m, 30m and 1h."""
    total = sums[-1]
    if total <= 0:
        return (0.0, 0.0, 0.0)
    return (sums[-4] / total, sums[-3] / total, sums[-2] / total)


def choose_resource_ttl(
    rates: Rates,
    weights: Mapping[int, float],
    prefix_tokens: float,
    ttls: Sequence[float],
    implicit_s: float = 0,
) -> Choice:
    """Gemini resource lifetime (``<seconds>s``) of least expected cost, or ``none`` when
    storage does not pay for the reads.

    ``ttls``: the lifetimes compared (the profile's ``resource_ttls``); ``implicit_s``:
    without a resource, a use within this many seconds still reads from the provider's
    implicit cache (replay models Gemini's; the engine counts on none).
    """
    prices = prices_of(rates)
    total = sum(weights.values())
    gaps = [(representative(b), w / total) for b, w in weights.items()] if total > 0 else []
    options = [
        Option(f"{ttl:g}s", prefix_tokens * sum(p * resource_cost(rates, ttl, g) for g, p in gaps))
        for ttl in ttls
    ]
    implicit = sum(p * (prices.read if g <= implicit_s else prices.input) for g, p in gaps)
    options.append(Option("none", prefix_tokens * (implicit if gaps else prices.input)))
    return Choice(_cheapest(options), tuple(options))


def extended_share(weights: Mapping[int, float], profile: ProviderProfile) -> float:
    """Share of the learned gaps that outlast in-memory retention (the profile's documented
    low end, else its idle retention) but not extended retention; 0 without both facts."""
    total = sum(weights.values())
    short = profile.idle_retention_min_seconds or profile.idle_retention_seconds
    extended = profile.extended_retention_seconds
    if total <= 0 or short is None or extended is None:
        return 0.0
    longer = sum(w for b, w in weights.items() if short < representative(b) <= extended)
    return longer / total


def describe(
    scope: str,
    gaps: int,
    weight: float,
    declared_s: float | None = None,
    shares: Sequence[float] = (),
) -> str:
    """The observations part of a learned reasoning: what was learned from, and on what.

    ``scope``: ``prefix`` (an interleaved prefix's own gaps) or ``stream`` (its lineage's).
    """
    if len(shares) == 3:
        return (
            f"learned from {gaps} gap(s) between uses of this {scope} (decayed weight "
            f"{weight:.3g}{_declared(declared_s)}){_within_text(*shares)}"
        )
    return (
        f"learned from {gaps} gap(s) between uses of this {scope} "
        f"(decayed weight {weight:.3g}{_declared(declared_s)})"
    )


# The text caches below pay on the plan path: a lineage with a steady cadence (or one
# declared interval) asks for the same figures plan after plan. Bounded, pure functions.
@functools.lru_cache(maxsize=256)
def _declared(declared_s: float | None) -> str:
    if declared_s is None:
        return ""
    return f", plus the declared {fmt(declared_s)} s counted as {PRIOR_WEIGHT:g}"


@functools.lru_cache(maxsize=1024)
def _within_text(in_5m: float, in_30m: float, in_1h: float) -> str:
    return f": {in_5m:.0%} within 5m, {in_30m:.0%} within 30m, {in_1h:.0%} within 1h"


def money(value: float, priced: bool) -> str:
    """A cost for prose: USD when the model is priced, else input-token equivalents."""
    if priced:
        return f"{value / 1e6:.6g} USD"
    return f"{value:.6g} input-token equivalents"


def describe_options(choice: Choice, priced: bool, what: str) -> str:
    """The expected-costs part of a learned reasoning."""
    return _options_text(choice.options, priced, what)


@functools.lru_cache(maxsize=1024)
def _options_text(options: tuple[Option, ...], priced: bool, what: str) -> str:
    scale, unit = (1e-6, " USD") if priced else (1.0, " input-token equivalents")
    parts = []
    for name, cost, touches in options:
        label = "no write" if name == "none" else name
        if touches:
            parts.append(
                f"{label} {cost * scale:.6g}{unit} with up to {touches} keep-warm touch(es)"
            )
        else:
            parts.append(f"{label} {cost * scale:.6g}{unit}")
    return f"expected cost of {what}: {'; '.join(parts)}"
