"""Engine stats computed from a durable ledger's ``cache.usage`` records.

With a ledger behind the engine nothing is evicted, and stats can be asked for a time
window, an agent or a model: the ledger sums the tokens, this module prices them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from racs.core.accounting import Cost, Tokens, cost_of, hit_ratio
from racs.core.model import CacheStats, PrefixStats
from racs.core.prices import PriceBook
from racs.ledger.model import CacheUsageTotal
from racs.planning.usage import totals


def ledger_stats(
    ledger: Any,
    prices: PriceBook,
    storage_usd: Mapping[str, float],
    *,
    prefix_key: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    agent_id: str | None = None,
    since: Any = None,
    until: Any = None,
) -> CacheStats:
    """CacheStats over the ledger's usage records under the filters, sorted by key.

    ``storage_usd`` is the resource storage spend the engine accounted per prefix (plans,
    not usage records, create storage); it is added when no time window is asked for.
    """
    groups = ledger.cache_usage_totals(
        since=since,
        until=until,
        agent_id=agent_id,
        model=model,
        provider=provider,
        prefix_key=prefix_key,
        by_day=True,
    )
    prefixes = []
    for g, cost in _merge_days(groups, prices):
        writes = g.cache_write_tokens_5m + g.cache_write_tokens_1h + g.cache_write_tokens_30m
        saved = spend = storage = None
        if cost is not None:
            saved, spend = cost.saved, cost.write_premium
            storage = storage_usd.get(g.group_key, 0.0)
        prefixes.append(
            PrefixStats(
                prefix_key=g.group_key,
                calls=g.calls,
                hit_ratio=hit_ratio(g.cache_read_tokens, writes, g.uncached_tokens),
                read_tokens=g.cache_read_tokens,
                write_tokens=writes,
                uncached_tokens=g.uncached_tokens,
                saved_usd=saved,
                write_spend_usd=spend,
                storage_spend_usd=storage,
                net_usd=None if saved is None else saved - (spend or 0.0) - (storage or 0.0),
                provider=g.provider,
                model=g.model,
                hits=g.hits,
            )
        )
    prefixes.sort(key=lambda p: p.prefix_key)
    return totals(prefixes)


def _merge_days(groups: list[Any], prices: PriceBook) -> list[tuple[CacheUsageTotal, Cost | None]]:
    """One total per group key and model, each day priced at the prices then in force."""
    merged: dict[tuple[str, str, str], tuple[CacheUsageTotal, Cost | None]] = {}
    for g in groups:
        rates = prices.rates(g.provider, g.model, timestamp_ms=g.day_start)
        cost = None
        if rates is not None:
            cost = cost_of(
                Tokens(
                    read=g.cache_read_tokens,
                    write_5m=g.cache_write_tokens_5m,
                    write_30m=g.cache_write_tokens_30m,
                    write_1h=g.cache_write_tokens_1h,
                ),
                rates,
            )
        key = (g.group_key, g.provider, g.model)
        seen = merged.get(key)
        if seen is not None:
            total, before = seen
            g = replace(
                total,
                **{f: getattr(total, f) + getattr(g, f) for f in _SUMMED},
                day_start=None,
            )
            cost = before if cost is None else cost if before is None else before + cost
        merged[key] = (replace(g, day_start=None), cost)
    return list(merged.values())


# Every count of a total is summed across days; the group's identity and day are not.
_SUMMED = tuple(
    f.name
    for f in fields(CacheUsageTotal)
    if f.name not in ("group_key", "provider", "model", "day_start")
)
