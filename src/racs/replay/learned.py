"""``racs replay --strategy learned``: the learned policy on recorded traffic.

The same learner and the same policy functions as the live engine (``racs.learning.live``),
fed request by request in time order, so each decision sees exactly the past it would have
seen live: the stream's gaps so far and what this request must write. Keep-warm budgets
become replay's ``keep_warm_s`` (replay touches an entry at its expiry, so the cost table
spaces touches one TTL apart).
"""

from __future__ import annotations

from typing import Final

from racs.core.accounting import Rates
from racs.core.tiers import TIER, seconds_of
from racs.learning.costs import BreakpointTable
from racs.learning.gaps import Cadence
from racs.learning.policy import WARM_GAPS, choose_resource_ttl, choose_tier, extended_share
from racs.replay.strategies import Decision, Situation

REPLAY_TOUCH_SPACING: Final = 1.0
"""Replay sends a keep-warm touch when the entry expires: one TTL apart."""
_RESOURCE_TTLS: Final = {"explicit-5m": 300, "explicit-1h": 3600}
_IMPLICIT_S: Final = 300


class LearnedStrategy:
    """Learns each stream's gaps as it goes and decides with ``racs.learning.policy``."""

    name = "learned"

    def __init__(self) -> None:
        self._streams: dict[str, Cadence] = {}
        self._tables: dict[tuple[Rates, tuple[str, ...]], BreakpointTable] = {}

    def _table(self, rates: Rates, tiers: tuple[str, ...]) -> BreakpointTable:
        key = (rates, tiers)
        table = self._tables.get(key)
        if table is None:
            table = BreakpointTable(rates, tiers, REPLAY_TOUCH_SPACING)
            self._tables[key] = table
        return table

    def decide(self, situation: Situation) -> Decision:
        """The decision for this request, after learning the gap that led to it."""
        cadence = self._streams.get(situation.stream)
        if cadence is None:
            cadence = self._streams[situation.stream] = Cadence()
        family = situation.family
        options = situation.options
        rates = situation.rates
        tiers = tuple(t for t in options if t in TIER)
        table = self._table(rates, tiers) if rates is not None and tiers else None
        cadence.use(situation.request.timestamp_ms, table.row if table is not None else None)
        warm = cadence.gaps >= WARM_GAPS
        if family == "breakpoint" and tiers:
            if not warm or table is None:
                return Decision("5m" if "5m" in tiers else tiers[0])  # the reference default
            sums = cadence.folded(table, table.row, table.width)
            prefix = situation.prefix_tokens
            written = max(0, prefix - situation.read_tokens)
            choice = choose_tier(table, sums, prefix, written)
            tier = choice.tier
            if tier is None:
                return Decision(None)
            return Decision(tier, choice.pick.touches * seconds_of(tier) * REPLAY_TOUCH_SPACING)
        if family == "routing-key" and "24h" in options:
            extended = warm and extended_share(cadence.weights()) > 0
            return Decision("24h" if extended else None)
        if family == "resource" and warm and rates is not None:
            offered = [s for name, s in _RESOURCE_TTLS.items() if name in options]
            choice = choose_resource_ttl(
                rates, cadence.weights(), situation.prefix_tokens, offered, _IMPLICIT_S
            )
            picked = choice.tier
            if picked is not None:
                seconds = int(picked.removesuffix("s"))
                return Decision(next(n for n, s in _RESOURCE_TTLS.items() if s == seconds))
            return Decision(None)
        return Decision(None if None in options else options[0])

    def end_stream(self, stream: str) -> None:
        """The stream is over: forget it."""
        self._streams.pop(stream, None)
