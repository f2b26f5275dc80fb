"""What the next use of a cached prefix costs under each caching option, per gap.

Prices are a model's ``racs.core.accounting.Rates`` (USD per million tokens, or input-price
units when the host gave no price card), read through ``accounting.cost_of`` once per
rates (``prices_of``: cost is linear in tokens, so a million tokens of one class priced by
``cost_of`` is that class's price). Every figure here is per prefix token; callers
multiply by the prefix's tokens.

Breakpoint caches (Anthropic, Bedrock, ...): an entry of tier T lives T after its last
write or read; a keep-warm touch (a request that reads the prefix, priced as a read) at
``REFRESH_FRACTION`` of T slides the window. With up to ``k`` touches before the next use,
a gap ``g`` costs the touches actually sent plus a read if the entry survived, or a fresh
write of tier T if it did not.
"""

from __future__ import annotations

import functools
import math
from typing import Final, NamedTuple

from racs.core.accounting import MTOK, Rates, Tokens, cost_of, storage_usd
from racs.core.tiers import TIER, seconds_of
from racs.learning.gaps import bin_of, representative
from racs.planning.keepwarm import REFRESH_FRACTION

KEEPWARM_TOUCHES: Final = (0, 1, 2, 4, 8)
"""Keep-warm budgets the policy compares: touches sent at most before giving up."""
SURVIVAL: Final = 0.8
"""Providers evict early under load (replay's pessimistic setting assumes 20% early): a gap
seen once is bridged again as if entries lived this share of their TTL, and a stream whose
entry was found dead within the last fifth of its TTL is costed with it from then on."""
PAUSE_PRIOR: Final = (450.0, 900.0, 1800.0)
"""Pauses any stream may take although it has shown none (a task boundary): they break the
tie between keep-warm budgets that cost nothing on the gaps seen so far."""
PAUSE_PRIOR_WEIGHT: Final = 0.01
"""Their weight, in gaps: small enough never to outweigh an observed gap."""
INDICATORS: Final = tuple(TIER[name].seconds for name in ("5m", "30m", "1h"))
"""Extra columns of a row before the last (a constant 1): whether the gap fits in 5m, 30m
and 1h (for the reasoning; ``policy.within`` reads them at -4, -3, -2)."""


class Prices(NamedTuple):
    """USD (or input-price units) per million tokens of each class, as ``cost_of`` bills them."""

    input: float
    read: float
    write_5m: float
    write_30m: float
    write_1h: float

    def write(self, tier: str) -> float:
        """The write price of ``tier``."""
        return float(getattr(self, f"write_{tier}"))


@functools.lru_cache(maxsize=1024)
def prices_of(rates: Rates) -> Prices:
    """Each class's price per million tokens, from ``cost_of`` itself."""

    def per(**tokens: float) -> float:
        return cost_of(Tokens(**tokens), rates).total

    return Prices(
        per(fresh=MTOK), per(read=MTOK), per(write_5m=MTOK), per(write_30m=MTOK), per(write_1h=MTOK)
    )


def breakpoint_cost(
    rates: Prices,
    tier: str,
    touches: int,
    gap_s: float,
    spacing: float = REFRESH_FRACTION,
    survival: float = 1.0,
) -> float:
    """Cost per prefix token of the next use ``gap_s`` after a write of ``tier``.

    ``touches``: the keep-warm budget (touches sent before the use, at most); ``spacing``:
    touches fall every ``spacing`` TTLs (the engine schedules them at 0.9, replay at 1.0);
    ``survival``: the share of its TTL an entry actually lives (1, or ``SURVIVAL`` once a
    stream has seen its entries die early).
    """
    ttl = seconds_of(tier) * survival
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

    __slots__ = (
        "_by_gap",
        "_rows",
        "options",
        "prior",
        "rates",
        "spacing",
        "survival",
        "tiers",
        "width",
        "writes",
    )

    def __init__(
        self,
        rates: Rates,
        tiers: tuple[str, ...],
        spacing: float = REFRESH_FRACTION,
        survival: float = 1.0,
    ) -> None:
        self.rates = prices_of(rates)
        self.spacing = spacing
        self.survival = survival
        self.tiers = tuple(sorted(tiers, key=seconds_of))
        self.options = tuple((t, k) for t in self.tiers for k in KEEPWARM_TOUCHES)
        self.writes = tuple((t, self.rates.write(t)) for t in self.tiers)
        """Each tier with its write price, in the order of ``options``."""
        self.width = len(self.options) + len(INDICATORS) + 1
        self._rows: dict[int, tuple[float, ...]] = {}
        self._by_gap: dict[float, tuple[float, ...]] = {}
        n = len(self.options)
        share = PAUSE_PRIOR_WEIGHT / len(PAUSE_PRIOR)
        self.prior = tuple(
            sum(share * self.row_at(g)[i] for g in PAUSE_PRIOR) if i < n else 0.0
            for i in range(self.width)
        )
        """``PAUSE_PRIOR`` folded like a gap, weighing nothing in the shares and the total."""

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
        costs = [
            breakpoint_cost(self.rates, t, k, gap_s, self.spacing, self.survival)
            for t, k in self.options
        ]
        marks = [1.0 if gap_s <= limit else 0.0 for limit in INDICATORS]
        return (*costs, *marks, 1.0)


def resource_cost(rates: Rates, ttl_s: float, gap_s: float) -> float:
    """Cost per prefix token of a resource created for ``ttl_s`` and its next use ``gap_s``
    later, beyond the creation itself (the prefix at the input price, as without one).

    As the cache model bills it: storage for the whole TTL, then a read inside the TTL or
    the input price again after it.
    """
    prices = prices_of(rates)
    storage = storage_usd(MTOK, ttl_s, rates.storage_per_mtok_hour)
    return storage + (prices.read if gap_s <= ttl_s else prices.input)
