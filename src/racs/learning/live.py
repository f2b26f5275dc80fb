"""Learned reuse inside the engine: lineages fed by ``plan`` and ``record``, plans decided.

Every call is a use of its stream (provider, model, agent), whose calls read and extend
each other's cache as the prompt grows. When a stream interleaves prompts, each exact
prefix key (from its second sighting) also learns its own gaps. A decision uses the
prefix's own gaps once it has ``WARM_GAPS`` of them, else the stream's, else (cold) the
reference decision stands.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Final

from racs.core.accounting import Rates, rates_of
from racs.core.model import (
    BreakEven,
    BreakpointDirective,
    CacheUsage,
    Pricing,
    ProviderProfile,
    ResourceDirective,
)
from racs.core.prices import PriceBook
from racs.core.tiers import TIER, seconds_of
from racs.learning import apply
from racs.learning.costs import BreakpointTable
from racs.learning.gaps import Cadence, RowOf, bin_of
from racs.learning.hedge import Hedge
from racs.learning.policy import (
    PRIOR_WEIGHT,
    WARM_GAPS,
    choose_resource_ttl,
    choose_tier,
    describe,
    extended_share,
    within,
)
from racs.planning.inputs import ResolvedPrompt
from racs.planning.keepwarm import REFRESH_FRACTION
from racs.planning.planner import Outcome

MAX_LINEAGES: Final = 10_000
_UNPRICED: Final = Pricing(input_per_mtok=1.0)


def stream_key(provider: str, model: str, agent_id: str | None) -> str:
    """The lineage key of a stream: provider, model and agent."""
    return f"s\x1f{provider}\x1f{model}\x1f{agent_id or ''}"


def prefix_lineage(prefix_key: str) -> str:
    """The lineage key of one exact prefix (its prefix key already names provider and model)."""
    return f"k\x1f{prefix_key}"


class _Model:
    """A model's resolved rates and breakpoint cost table."""

    __slots__ = ("break_evens", "card", "priced", "rates", "table")

    def __init__(self, profile: ProviderProfile, rates: Rates | None, card: Pricing | None) -> None:
        self.priced = rates is not None
        self.card = card
        # Unpriced: the profile's multipliers in input-price units decide just as well.
        self.rates: Rates = rates if rates is not None else rates_of(_UNPRICED, profile)
        tiers = tuple(t for t in (profile.ttls or ()) if t in TIER)
        self.table = BreakpointTable(self.rates, tiers) if tiers else None
        self.break_evens: dict[tuple[str, float, bool], BreakEven] = {}


class LearnedReuse:
    """Every lineage's learned gaps (LRU-bounded) and the engine's two hooks."""

    def __init__(self, prices: PriceBook | None = None, max_lineages: int = MAX_LINEAGES) -> None:
        self.max_lineages = max_lineages
        self._prices = prices
        self._lineages: OrderedDict[str, Cadence] = OrderedDict()
        self._models: dict[tuple[str, str], _Model] = {}
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._lineages)

    def lineage(self, key: str) -> Cadence:
        """The lineage's cadence, created on first use; the least recently used is evicted."""
        lineages = self._lineages
        found = lineages.get(key)
        if found is None:
            found = Cadence()
            lineages[key] = found
            if len(lineages) > self.max_lineages:
                lineages.popitem(last=False)
        else:
            lineages.move_to_end(key)
        return found

    def _own(
        self, stream: Cadence, prefix_key: str, at: float, row_of: RowOf | None
    ) -> Cadence | None:
        """The exact prefix's lineage, when the stream interleaves prefixes.

        While a stream keeps using one prefix, its gaps are that prefix's gaps: only the
        stream learns them (the prefix's lineage, if any, just notes the use).
        """
        if stream.key == prefix_key:
            own = self._lineages.get(prefix_lineage(prefix_key))
            if own is not None and own.last is not None and at >= own.last:
                own.last = at
            return None
        stream.key = prefix_key
        own = self._prefix(prefix_key, at)
        if own is not None:
            own.use(at, row_of)
        return own

    def _prefix(self, prefix_key: str, now: float) -> Cadence | None:
        """The exact prefix's lineage from its second sighting on.

        A growing conversation makes a new prefix key every call, seen once: those get a
        timestamp in a bounded side table, not a lineage, so they never crowd streams out.
        """
        key = prefix_lineage(prefix_key)
        if key in self._lineages:
            return self.lineage(key)
        seen = self._seen.pop(key, None)
        if seen is None:
            if len(self._seen) >= self.max_lineages:
                self._seen.clear()
            self._seen[key] = now
            return None
        own = self.lineage(key)
        own.last = seen
        return own

    def _model(self, profile: ProviderProfile, model: str) -> _Model:
        """Rates are resolved once per model (the price card, else the price database)."""
        key = (profile.id, model)
        found = self._models.get(key)
        if found is None:
            if len(self._models) > 4096:
                self._models.clear()
            prices = self._prices
            found = _Model(
                profile,
                prices.rates(profile.id, model) if prices else None,
                prices.card(profile.id, model) if prices else None,
            )
            self._models[key] = found
        return found

    # --- hooks ----------------------------------------------------------------------
    def plan(
        self,
        prompt: ResolvedPrompt,
        profile: ProviderProfile,
        prefix_key: str,
        outcome: Outcome,
        now: float,
    ) -> tuple[Outcome, int | None]:
        """Learn this call's use, then decide; returns the plan and the keep-warm budget
        (``None``: the reference's unlimited schedule)."""
        m = self._model(profile, prompt.model)
        table = m.table if profile.family == "breakpoint" else None
        row_of = table.row if table is not None else None
        stream = self.lineage(stream_key(prompt.provider, prompt.model, prompt.agent_id))
        gap = stream.use(now, row_of)
        stream.pending = prefix_key
        own = self._own(stream, prefix_key, now, row_of)
        if own is not None and own.gaps >= WARM_GAPS:
            learner, scope = own, "prefix"
        elif stream.gaps >= WARM_GAPS:
            learner, scope = stream, "stream"
        else:
            if table is not None and outcome.directives[0].kind == "breakpoint":
                _hedge_reference(stream, table, gap, prompt.stable_tokens, now)
            _note_reference_write(stream, outcome, prompt.stable_tokens, now)
            if own is not None:
                _note_reference_write(own, outcome, prompt.stable_tokens, now)
            return apply.cold(outcome, stream.gaps), None
        declared = prompt.interval
        family = profile.family
        if family == "breakpoint" and table is not None:
            if outcome.directives[0].kind != "breakpoint":
                return outcome, None  # below the minimum, no stable span: nothing to tier
            return self._breakpoint(
                prompt, profile, m, table, learner, scope, declared, stream, outcome, now, gap
            )
        weights = learner.weights()
        if declared is not None:
            b = bin_of(declared)
            weights[b] = weights.get(b, 0.0) + PRIOR_WEIGHT
        observed = describe(scope, learner.gaps, sum(weights.values()), declared)
        if family == "resource" and any(
            isinstance(d, ResourceDirective) for d in outcome.directives
        ):
            ttls = profile.resource_ttls or ()
            if not ttls:
                return outcome, None  # the profile names no lifetime to choose among
            choice = choose_resource_ttl(m.rates, weights, prompt.stable_tokens, ttls)
            return apply.resource_plan(outcome, choice, observed, profile, m.priced), None
        if family == "routing-key" and "24h" in (profile.retention_options or ()):
            share = extended_share(weights, profile)
            return apply.routing_plan(outcome, share > 0, share, observed, profile), None
        return outcome, None

    def _breakpoint(
        self,
        prompt: ResolvedPrompt,
        profile: ProviderProfile,
        m: _Model,
        table: BreakpointTable,
        learner: Cadence,
        scope: str,
        declared: float | None,
        stream: Cadence,
        outcome: Outcome,
        now: float,
        gap: float | None,
    ) -> tuple[Outcome, int | None]:
        sums = learner.folded(table, table.row, table.width)
        scale = learner.scale
        if sums[-4] >= sums[-1]:  # no gap beyond the shortest tier yet: a pause may still come
            sums = [s + scale * p for s, p in zip(sums, table.prior, strict=True)]
        if declared is not None:
            pw = PRIOR_WEIGHT * scale
            sums = [s + pw * c for s, c in zip(sums, table.row_of_gap(declared), strict=True)]
        stable = prompt.stable_tokens
        # What is still cached: the learner's own last write (an interleaved prefix's own,
        # else the stream's, whose prompt grows).
        written = stable
        if now <= learner.alive_until and stable >= learner.written:
            written = stable - learner.written
        hedge = stream.hedge
        if hedge is None:
            hedge = stream.hedge = Hedge()
        prices = table.rates
        ref = table.tiers[0]
        hedge.observe(prices, gap, stable, stable - written, ref, REFRESH_FRACTION)
        limits = hedge.allowance(prices, ref, stable, declared)
        # The entry a call that writes nothing keeps is the stream's newest (an interleaved
        # prefix's own entry may be older: its tier is not known here).
        current = hedge.entry if learner is stream else None
        choice = choose_tier(table, sums, stable, written, limits, current)
        tier = choice.tier
        touches = choice.pick.touches
        hedge.decided(prices, ref, tier, touches, stable, written)
        if tier is not None:
            ttl = seconds_of(tier)
            alive = ttl + REFRESH_FRACTION * ttl * touches
            until = now + alive * 1000
            stream.written, stream.alive_until = stable, until
            learner.written, learner.alive_until = stable, until
        observed = describe(scope, learner.gaps, sums[-1] / scale, declared, within(sums))
        planned = apply.breakpoint_plan(
            outcome, choice, observed, m.card, profile, stable, m.priced, m.break_evens
        )
        return planned, touches

    def record(self, usage: CacheUsage) -> None:
        """Learn from a usage record; the usage of a call planned just before is not a new use."""
        stream = self.lineage(stream_key(usage.provider, usage.model, usage.agent_id))
        if stream.pending is not None and stream.pending == usage.prefix_key:
            stream.pending = None
            return
        if usage.timestamp is None:
            return
        stream.use(usage.timestamp)
        if usage.prefix_key:
            self._own(stream, usage.prefix_key, usage.timestamp, None)

    def rebuild(self, usages: Iterable[CacheUsage]) -> int:
        """Learn from recorded usage in time order (the ledger's, on start); returns the count."""
        count = 0
        for usage in usages:
            self.record(usage)
            count += 1
        return count

    # --- snapshots ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-ready lineages, least recently used first."""
        return {key: c.to_dict() for key, c in self._lineages.items()}

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore lineages written by ``state`` (raises on a corrupt section)."""
        if not isinstance(data, Mapping):
            raise ValueError("learning state must map lineage keys to cadences")
        restored: OrderedDict[str, Cadence] = OrderedDict()
        for key, raw in data.items():
            if not isinstance(raw, Mapping):
                raise ValueError(f"lineage {key!r} is not an object")
            restored[str(key)] = Cadence.from_dict(raw)
        while len(restored) > self.max_lineages:
            restored.popitem(last=False)
        self._lineages = restored


def _hedge_reference(
    stream: Cadence, table: BreakpointTable, gap: float | None, stable: float, now: float
) -> None:
    """Account for a cold (reference) plan in the stream's hedge: the shortest tier."""
    hedge = stream.hedge
    if hedge is None:
        hedge = stream.hedge = Hedge()
    read = stream.written if now <= stream.alive_until and stable >= stream.written else 0.0
    prices, ref = table.rates, table.tiers[0]
    hedge.observe(prices, gap, stable, read, ref, REFRESH_FRACTION)
    hedge.decided(prices, ref, ref, 0, stable, stable - read)


def _note_reference_write(stream: Cadence, outcome: Outcome, stable: float, now: float) -> None:
    """Remember what a cold (reference) plan wrote, so the first learned one knows."""
    ttls = [seconds_of(d.ttl) for d in outcome.directives if isinstance(d, BreakpointDirective)]
    if ttls:
        stream.written, stream.alive_until = stable, now + min(ttls) * 1000
