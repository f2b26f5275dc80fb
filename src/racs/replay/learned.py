"""``racs replay --strategy learned``: the learned policy on recorded traffic.

The same learner, hedge and policy functions as the live engine (``racs.learning.live``),
fed request by request in time order, so each decision sees exactly the past it would have
seen live: the stream's gaps so far, what its protection has earned or cost against the
shortest tier (``racs.learning.hedge``) and what this request must write. Keep-warm budgets
become replay's ``keep_warm_s`` (replay touches an entry at its expiry, so the cost table
spaces touches one TTL apart). Provider facts (retention, Gemini lifetimes) come from the
request's provider profile.
"""

from __future__ import annotations

from typing import Final

from racs.core.accounting import Rates
from racs.core.cache import explicit_rule
from racs.core.catalog import default_profile_of
from racs.core.model import ProviderProfile
from racs.core.tiers import TIER, seconds_of
from racs.learning.costs import BreakpointTable
from racs.learning.gaps import Cadence
from racs.learning.hedge import Hedge
from racs.learning.policy import WARM_GAPS, choose_resource_ttl, choose_tier, extended_share
from racs.replay.strategies import Decision, Situation

REPLAY_TOUCH_SPACING: Final = 1.0
"""Replay sends a keep-warm touch when the entry expires: one TTL apart."""


class _Stream:
    __slots__ = ("cadence", "hedge")

    def __init__(self) -> None:
        self.cadence = Cadence()
        self.hedge = Hedge()


class LearnedStrategy:
    """Learns each stream's gaps as it goes and decides with ``racs.learning.policy``."""

    name = "learned"

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._tables: dict[tuple[Rates, tuple[str, ...], float], BreakpointTable] = {}
        self._profiles: dict[tuple[str, str], ProviderProfile | None] = {}

    def _table(self, rates: Rates, tiers: tuple[str, ...], survival: float) -> BreakpointTable:
        key = (rates, tiers, survival)
        table = self._tables.get(key)
        if table is None:
            table = BreakpointTable(rates, tiers, REPLAY_TOUCH_SPACING, survival)
            self._tables[key] = table
        return table

    def _profile(self, situation: Situation) -> ProviderProfile | None:
        request = situation.request
        key = (request.provider, request.model)
        if key not in self._profiles:
            self._profiles[key] = default_profile_of(*key)
        return self._profiles[key]

    def decide(self, situation: Situation) -> Decision:
        """The decision for this request, after learning the gap that led to it."""
        stream = self._streams.get(situation.stream)
        if stream is None:
            stream = self._streams[situation.stream] = _Stream()
        cadence = stream.cadence
        family = situation.family
        options = situation.options
        rates = situation.rates
        tiers = tuple(t for t in options if t in TIER)
        survival = stream.hedge.survival
        table = self._table(rates, tiers, survival) if rates is not None and tiers else None
        cadence.use(situation.request.timestamp_ms, table.row if table is not None else None)
        if family == "breakpoint" and tiers:
            if table is None:
                return Decision(min(tiers, key=seconds_of))  # unpriced: the reference default
            return self._breakpoint(situation, stream, table)
        profile = self._profile(situation)
        if profile is None or cadence.gaps < WARM_GAPS:
            return Decision(None if None in options else options[0])
        if family == "routing-key" and "24h" in options:
            extended = extended_share(cadence.weights(), profile) > 0
            return Decision("24h" if extended else None)
        if family == "resource" and rates is not None:
            # The cache model names each lifetime of the profile's ``resource_ttls``.
            named = {explicit_rule(s).name: s for s in profile.resource_ttls or ()}
            offered = {name: named[name] for name in options if name in named}
            choice = choose_resource_ttl(
                rates,
                cadence.weights(),
                situation.prefix_tokens,
                tuple(offered.values()),
                profile.idle_retention_seconds or 0,
            )
            picked = choice.tier
            if picked is not None:
                seconds = float(picked.removesuffix("s"))
                return Decision(next(n for n, s in offered.items() if s == seconds))
            return Decision(None)
        return Decision(None if None in options else options[0])

    def _breakpoint(
        self, situation: Situation, stream: _Stream, table: BreakpointTable
    ) -> Decision:
        cadence, hedge = stream.cadence, stream.hedge
        prices = table.rates
        ref = table.tiers[0]
        prefix = situation.prefix_tokens
        read = min(situation.read_tokens, prefix)
        hedge.observe(prices, situation.gap_s, prefix, read, ref, REPLAY_TOUCH_SPACING)
        if hedge.survival != table.survival:  # entries die early here: cost with that
            table = self._table(
                situation.rates or Rates(0, 0, 0, 0, 0), table.tiers, hedge.survival
            )
        written = prefix - read
        if cadence.gaps < WARM_GAPS:
            hedge.decided(prices, ref, ref, 0, prefix, written)
            return Decision(ref)  # nothing learned yet: the reference default
        sums = cadence.folded(table, table.row, table.width)
        scale = cadence.scale
        if sums[-4] >= sums[-1]:  # no gap beyond the shortest tier yet: a pause may still come
            sums = [s + scale * p for s, p in zip(sums, table.prior, strict=True)]
        limits = hedge.allowance(prices, ref, prefix)
        choice = choose_tier(table, sums, prefix, written, limits, hedge.entry)
        tier = choice.tier
        touches = choice.pick.touches
        hedge.decided(prices, ref, tier, touches, prefix, written)
        if tier is None:
            return Decision(None)
        # Touches at each expiry: a stream whose entries die early gets them that early.
        keep = touches * seconds_of(tier) * REPLAY_TOUCH_SPACING * hedge.survival
        return Decision(tier, keep)

    def end_stream(self, stream: str) -> None:
        """The stream is over: forget it."""
        self._streams.pop(stream, None)
