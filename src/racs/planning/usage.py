"""The engine's usage memory: per-prefix token totals and dollars (priced by ``accounting``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from racs.core.accounting import Tokens, cost_of, hit_ratio
from racs.core.model import CacheStats, CacheUsage, PrefixStats
from racs.core.prices import PriceBook

_MAX_LOADED: Final = 1e300
_COUNTS: Final = frozenset(
    {"calls", "hits", "read", "write_5m", "write_1h", "write_30m", "uncached"}
)


@dataclass(slots=True)
class Aggregate:
    """Running totals of one prefix (or one ``provider:model``)."""

    key: str
    provider: str
    model: str
    agent_id: str | None = None
    calls: int = 0
    hits: int = 0
    read: float = 0
    write_5m: float = 0
    write_1h: float = 0
    write_30m: float = 0
    uncached: float = 0
    priced: bool = False
    saved_usd: float = 0.0
    write_spend_usd: float = 0.0
    storage_spend_usd: float = 0.0
    unpriced: set[str] = field(default_factory=set)
    """Models recorded under this key that no price covers."""

    @property
    def writes(self) -> float:
        """Tokens written, all tiers."""
        return self.write_5m + self.write_1h + self.write_30m

    def public(self) -> PrefixStats:
        """The public, immutable view."""
        usd = self.priced
        return PrefixStats(
            prefix_key=self.key,
            calls=self.calls,
            hit_ratio=hit_ratio(self.read, self.writes, self.uncached),
            read_tokens=self.read,
            write_tokens=self.writes,
            uncached_tokens=self.uncached,
            saved_usd=self.saved_usd if usd else None,
            write_spend_usd=self.write_spend_usd if usd else None,
            storage_spend_usd=self.storage_spend_usd if usd else None,
            net_usd=self.saved_usd - self.write_spend_usd - self.storage_spend_usd if usd else None,
            provider=self.provider,
            model=self.model,
            hits=self.hits,
        )


FIELDS = (
    "calls",
    "hits",
    "read",
    "write_5m",
    "write_1h",
    "write_30m",
    "uncached",
    "saved_usd",
    "write_spend_usd",
    "storage_spend_usd",
)


def totals(prefixes: Iterable[PrefixStats], unpriced: Iterable[str] = ()) -> CacheStats:
    """Ledger-wide totals over per-prefix stats (USD only where pricing covered a model).

    ``unpriced`` adds models known to be unpriced beyond the prefixes without USD.
    """
    items = tuple(prefixes)
    read = sum(p.read_tokens for p in items)
    writes = sum(p.write_tokens for p in items)
    uncached = sum(p.uncached_tokens for p in items)
    priced = [p for p in items if p.saved_usd is not None]
    saved = sum(p.saved_usd or 0.0 for p in priced)
    spend = sum(p.write_spend_usd or 0.0 for p in priced)
    storage = sum(p.storage_spend_usd or 0.0 for p in priced)
    return CacheStats(
        calls=sum(p.calls for p in items),
        hit_ratio=hit_ratio(read, writes, uncached),
        read_tokens=read,
        write_tokens=writes,
        uncached_tokens=uncached,
        prefixes=items,
        saved_usd=saved if priced else None,
        write_spend_usd=spend if priced else None,
        storage_spend_usd=storage if priced else None,
        net_usd=saved - spend - storage if priced else None,
        hits=sum(p.hits or 0 for p in items),
        unpriced_models=tuple(
            sorted({*unpriced, *(p.model for p in items if p.saved_usd is None and p.model)})
        ),
    )


class UsageBook:
    """Aggregates by key, bounded (LRU) unless a durable ledger keeps every record."""

    def __init__(self, prices: PriceBook, max_keys: int = 10_000) -> None:
        self.prices = prices
        self.max_keys = max_keys
        self.aggregates: OrderedDict[str, Aggregate] = OrderedDict()

    def _get(
        self, key: str, provider: str, model: str, agent_id: str | None
    ) -> tuple[Aggregate, str | None]:
        aggs = self.aggregates
        agg = aggs.get(key)
        evicted = None
        if agg is None:
            agg = Aggregate(key, provider, model, agent_id)
            aggs[key] = agg
            if len(aggs) > self.max_keys:
                evicted = aggs.popitem(last=False)[0]
        else:
            aggs.move_to_end(key)
            if agg.agent_id is None and agent_id is not None:
                agg.agent_id = agent_id
        return agg, evicted

    def add(self, u: CacheUsage, key: str) -> str | None:
        """Account one usage record; the key of the old aggregate evicted for room, if any."""
        agg, evicted = self._get(key, u.provider, u.model, u.agent_id)
        tokens = Tokens.of_usage(u)
        agg.calls += 1
        if tokens.read > 0:
            agg.hits += 1
        agg.read += tokens.read
        agg.write_5m += tokens.write_5m
        agg.write_1h += tokens.write_1h
        agg.write_30m += tokens.write_30m
        agg.uncached += tokens.fresh
        # Aggregates are priced at the base tier (as the ledger's roll-ups must be): the
        # traffic report and replay price long-context requests at their own tier.
        rates = self.prices.rates(u.provider, u.model, timestamp_ms=u.timestamp)
        if rates is None:
            agg.unpriced.add(u.model)
        else:
            cost = cost_of(tokens, rates)
            agg.priced = True
            agg.saved_usd += cost.saved
            agg.write_spend_usd += cost.write_premium
        return evicted

    def add_storage(
        self, key: str, provider: str, model: str, agent_id: str | None, usd: float
    ) -> str | None:
        """Account resource storage spend for a create or refresh (evicted key as ``add``)."""
        agg, evicted = self._get(key, provider, model, agent_id)
        agg.priced = True
        agg.storage_spend_usd += usd
        return evicted

    def stats(
        self,
        prefix_key: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        agent_id: str | None = None,
    ) -> CacheStats:
        """Totals and per-prefix stats sorted by key, under the given filters."""
        chosen = [
            a
            for a in self.aggregates.values()
            if (prefix_key is None or a.key == prefix_key)
            and (provider is None or a.provider == provider)
            and (model is None or a.model == model)
            and (agent_id is None or a.agent_id == agent_id)
        ]
        selected = sorted((a.public() for a in chosen), key=lambda p: p.prefix_key)
        return totals(selected, (m for a in chosen for m in a.unpriced))

    def storage_spend(self) -> dict[str, float]:
        """Resource storage USD per aggregation key."""
        return {k: a.storage_spend_usd for k, a in self.aggregates.items()}

    def state(self) -> list[dict[str, Any]]:
        """JSON-ready aggregates."""
        out = []
        for a in self.aggregates.values():
            d: dict[str, Any] = {
                "key": a.key,
                "provider": a.provider,
                "model": a.model,
                "agentId": a.agent_id,
                "priced": a.priced,
            }
            for f in FIELDS:
                d[f] = getattr(a, f)
            out.append(d)
        return out

    def load(self, data: list[dict[str, Any]]) -> None:
        """Restore aggregates saved by ``state``."""
        restored: OrderedDict[str, Aggregate] = OrderedDict()
        for d in data:
            agg = Aggregate(
                str(d["key"]),
                str(d["provider"]),
                str(d["model"]),
                None if d.get("agentId") is None else str(d["agentId"]),
            )
            agg.priced = bool(d.get("priced", False))
            agg.unpriced = {str(m) for m in d.get("unpriced", ())}
            for f in FIELDS:
                value = d[f]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"bad {f}")
                # Sums move by at most about 2**87 per record (bounded inputs): from within
                # 1e300 they cannot reach infinity, which would make every later save fail
                # (NaN, which json.loads accepts, fails the test too).
                if not -_MAX_LOADED <= value <= _MAX_LOADED:
                    raise ValueError(f"{f} out of range")
                # Counts are whole (a token count is rounded where it enters the engine):
                # an older snapshot's ``1000.0`` comes back as 1000.
                setattr(agg, f, round(value) if f in _COUNTS else value)
            restored[agg.key] = agg
        self.aggregates = restored
