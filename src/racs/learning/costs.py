"""What the next use of a cached prefix costs under each caching option, per gap.

Prices are a model's ``racs.core.accounting.Rates`` (USD per million tokens, or input-price
units when the host gave no price card). Every figure here is per prefix token; callers
multiply by the prefix's tokens.

Breakpoint caches (Anthropic, Bedrock, ...): an entry of tier T lives T after its last
write or read; a keep-warm touch (a request that reads the prefix, priced as a read) at
``REFRESH_FRACTION`` of T slides the window. With up to ``k`` touches before the next use,
a gap ``g`` costs the touches actually sent plus a read if the entry survived, or a fresh
write of tier T if it did not.
"""

from __future__ import annotations

import math
from typing import Final

from racs.core.accounting import Rates
from racs.core.tiers import seconds_of
from racs.learning.gaps import bin_of, representative
from racs.planning.keepwarm import REFRESH_FRACTION

KEEPWARM_TOUCHES: Final = (0, 1, 2, 4, 8)
"""Keep-warm budgets the policy compares: touches sent at most before giving up."""
INDICATORS: Final = (300, 1800, 3600)
"""Extra columns of a row before the last (a constant 1): whether the gap fits in 5m, 30m
and 1h (for the reasoning; ``policy.within`` reads them at -4, -3, -2)."""


def breakpoint_cost(
    rates: Rates, tier: str, touches: int, gap_s: float, spacing: float = REFRESH_FRACTION
) -> float:
    """Cost per prefix token of the next use ``gap_s`` after a write of ``tier``.

    ``touches``: the keep-warm budget (touches sent before the use, at most); ``spacing``:
    touches fall every ``spacing`` TTLs (the engine schedules them at 0.9, replay at 1.0).
    """
    ttl = seconds_of(tier)
    every = spacing * ttl
    # Touches fall at every, 2*every, ... strictly before the use.
    sent = touches if math.isinf(gap_s) else min(touches, max(0, math.ceil(gap_s / every) - 1))
    alive = gap_s <= ttl + every * touches
    return sent * rates.read + (rates.read if alive else rates.write(tier))


class BreakpointTable:
    """Per gap bin, the cost of each (tier, keep-warm budget) option, cached by bin.

    A row is ``[cost of option 0, ..., within 5m, within 30m, within 1h, 1]``; folding a
    histogram through it gives each option's summed cost, the mass per TTL and the total.
    """

    __slots__ = ("_by_gap", "_rows", "options", "rates", "spacing", "tiers", "width", "writes")

    def __init__(
        self, rates: Rates, tiers: tuple[str, ...], spacing: float = REFRESH_FRACTION
    ) -> None:
        self.rates = rates
        self.spacing = spacing
        self.tiers = tuple(sorted(tiers, key=seconds_of))
        self.options = tuple((t, k) for t in self.tiers for k in KEEPWARM_TOUCHES)
        self.writes = tuple((t, rates.write(t)) for t in self.tiers)
        """Each tier with its write price, in the order of ``options``."""
        self.width = len(self.options) + len(INDICATORS) + 1
        self._rows: dict[int, tuple[float, ...]] = {}
        self._by_gap: dict[float, tuple[float, ...]] = {}

    def row(self, b: int) -> tuple[float, ...]:
        """The row of bin ``b``."""
        found = self._rows.get(b)
        if found is None:
            found = self.row_at(representative(b))
            self._rows[b] = found
        return found

    def row_of_gap(self, gap_s: float) -> tuple[float, ...]:
        """The row of the bin holding a gap of ``gap_s`` s (a declared interval, asked per plan)."""
        found = self._by_gap.get(gap_s)
        if found is None:
            if len(self._by_gap) > 1024:
                self._by_gap.clear()
            found = self._by_gap[gap_s] = self.row(bin_of(gap_s))
        return found

    def row_at(self, gap_s: float) -> tuple[float, ...]:
        """The row of one gap (seconds)."""
        costs = [breakpoint_cost(self.rates, t, k, gap_s, self.spacing) for t, k in self.options]
        marks = [1.0 if gap_s <= limit else 0.0 for limit in INDICATORS]
        return (*costs, *marks, 1.0)


def resource_cost(rates: Rates, ttl_s: float, gap_s: float) -> float:
    """Cost per prefix token of the next use ``gap_s`` after creating a resource for ``ttl_s``.

    A use inside the TTL reads the cache and storage ran for the gap; after it, the call
    pays the input price again and storage ran for the whole TTL.
    """
    storage = (rates.storage_per_mtok_hour or 0.0) / 3600
    if gap_s <= ttl_s:
        return rates.read + storage * gap_s
    return rates.input + storage * ttl_s
