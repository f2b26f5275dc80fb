"""Engine stats computed from a durable ledger's ``cache.usage`` records.

With a ledger behind the engine nothing is evicted, and stats can be asked for a time
window, an agent or a model: the ledger sums the tokens, this module prices them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .model import LedgerStats, PrefixStats, Pricing, ProviderProfile
from .usage import hit_ratio, totals, usd_of


def ledger_stats(
    ledger: Any,
    pricing: Mapping[str, Pricing],
    profile_of: Callable[[str, str], ProviderProfile | None],
    storage_usd: Mapping[str, float],
    *,
    prefix_key: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    agent_id: str | None = None,
    since: Any = None,
    until: Any = None,
) -> LedgerStats:
    """LedgerStats over the ledger's usage records under the filters, sorted by key.

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
    )
    prefixes = []
    for g in groups:
        writes = g.cache_write_tokens_5m + g.cache_write_tokens_1h + g.cache_write_tokens_30m
        price = pricing.get(g.model)
        saved = spend = storage = None
        if price is not None:
            profile = profile_of(g.provider, g.model)
            saved, spend = usd_of(
                g.cache_read_tokens,
                {
                    "5m": g.cache_write_tokens_5m,
                    "1h": g.cache_write_tokens_1h,
                    "30m": g.cache_write_tokens_30m,
                },
                price,
                profile,
            )
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
