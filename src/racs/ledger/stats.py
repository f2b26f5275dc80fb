"""Usage statistics over runs and cache-usage totals over ``cache.usage`` records.

Run statistics read the hourly roll-up for whole hours inside the window and the runs
themselves for the partial hours at its edges, so a window over a million runs sums a few
thousand roll-up rows. Percentiles are exact (nearest rank: the value at rank
``ceil(p/100 * n)`` of the sorted values): a daily histogram of value buckets locates the
bucket of each rank, and only that bucket's values are read and sorted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from racs.errors import invalid
from racs.ledger import validate as v
from racs.ledger.backend import Tx
from racs.ledger.model import (
    CacheUsageTotal,
    Percentiles,
    StatusCounts,
    UsageBreakdown,
    UsageStats,
)
from racs.ledger.projection import DAY_MS, HOUR_MS, ROLLUP_VALUES, USAGE_ROLLUP_VALUES
from racs.ledger.store import conditions

_PRICE_KEYS: Final = (
    ("input", "inputPerMTok", "input_per_mtok"),
    ("cache_read", "cacheReadPerMTok", "cache_read_per_mtok"),
    ("write_5m", "cacheWrite5mPerMTok", "cache_write_5m_per_mtok"),
    ("write_30m", "cacheWrite30mPerMTok", "cache_write_30m_per_mtok"),
    ("write_1h", "cacheWrite1hPerMTok", "cache_write_1h_per_mtok"),
)

_ROLLUP_SUMS: Final = ", ".join(f"SUM({c})" for c in ROLLUP_VALUES)
_UNCACHED: Final = (
    "COALESCE(input_tokens, 0) - COALESCE(cache_read_tokens, 0)"
    " - COALESCE(cache_write_tokens_5m, 0) - COALESCE(cache_write_tokens_30m, 0)"
    " - COALESCE(cache_write_tokens_1h, 0)"
)
# The same sums as the roll-up, computed from runs (must mirror RunState.contribution).
_RAW_SUMS: Final = ", ".join(
    [
        *(
            f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)"
            for s in ("started", "completed", "failed", "cancelled")
        ),
        *(
            f"SUM(COALESCE({c}, 0))"
            for c in ("input_tokens", "output_tokens", "total_tokens", "cost_usd")
        ),
        "SUM(auth_risk)",
        "SUM(policy_override)",
        *(
            f"SUM(COALESCE({c}, 0))"
            for c in (
                "cache_read_tokens",
                "cache_write_tokens_5m",
                "cache_write_tokens_30m",
                "cache_write_tokens_1h",
            )
        ),
        f"SUM(CASE WHEN {_UNCACHED} > 0 THEN {_UNCACHED} ELSE 0 END)",
    ]
)
_USAGE_ROLLUP_SUMS: Final = ", ".join(f"SUM({c})" for c in USAGE_ROLLUP_VALUES)
# The same sums from the usage records (must mirror Projector.usage_rollup_deltas).
_USAGE_RAW_SUMS: Final = (
    "COUNT(*), SUM(CASE WHEN cache_read_tokens > 0 THEN 1 ELSE 0 END), SUM(input_tokens), "
    "SUM(cache_read_tokens), SUM(cache_write_tokens_5m), SUM(cache_write_tokens_30m), "
    "SUM(cache_write_tokens_1h), "
    "SUM(uncached_tokens)"
)
_PLAIN_TOTALS: Final = tuple(
    name for name in ROLLUP_VALUES if name not in ("started", "completed", "failed", "cancelled")
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    cache_read: float
    write_5m: float
    write_1h: float
    write_30m: float


def parse_pricing(pricing: object) -> dict[str, Price] | None:
    """Validate a pricing table (model -> prices, camelCase or snake_case keys).

    Only the input price is required; a missing cache price defaults to the input price,
    i.e. no discount and no write premium.
    """
    if pricing is None:
        return None
    table = v.mapping("pricing", pricing)
    result: dict[str, Price] = {}
    for model, entry in table.items():
        model_name = v.text("pricing model", model)
        found: dict[str, float] = {}
        for name, camel, snake in _PRICE_KEYS:
            if isinstance(entry, Mapping):
                raw = entry.get(camel, entry.get(snake))
            else:
                raw = getattr(entry, snake, None)
            if raw is not None:
                found[name] = v.amount(f"pricing[{model_name!r}].{camel}", raw)
        if "input" not in found:
            raise invalid(f"pricing[{model_name!r}] needs inputPerMTok")
        base = found["input"]
        result[model_name] = Price(
            base,
            found.get("cache_read", base),
            found.get("write_5m", base),
            found.get("write_1h", base),
            found.get("write_30m", base),
        )
    return result


Sums = dict[str, Any]
"""Sums of the roll-up values (ROLLUP_VALUES names) of a set of runs."""


def _zero() -> Sums:
    sums: Sums = dict.fromkeys(ROLLUP_VALUES, 0)
    sums["cost_usd"] = 0.0
    return sums


def _add(sums: Sums, values: Sequence[Any]) -> None:
    for name, value in zip(ROLLUP_VALUES, values, strict=True):
        if value is not None:
            # PostgreSQL sums BIGINT as NUMERIC: normalise to int (float for the cost).
            sums[name] += float(value) if name == "cost_usd" else int(value)


def _usd(prices: dict[str, Price] | None, per_model: list[tuple[str, Sums]]) -> dict[str, Any]:
    """Saved, cache-write and net USD of a set of models (nothing without a pricing table)."""
    if prices is None:
        return {}
    saved = spend = 0.0
    for model, sums in per_model:
        price = prices.get(model)
        if price is None:
            continue
        saved += sums["cache_read_tokens"] / 1e6 * (price.input - price.cache_read)
        spend += max(0.0, sums["cache_write_tokens_5m"] / 1e6 * (price.write_5m - price.input))
        spend += max(0.0, sums["cache_write_tokens_30m"] / 1e6 * (price.write_30m - price.input))
        spend += max(0.0, sums["cache_write_tokens_1h"] / 1e6 * (price.write_1h - price.input))
    return {"saved_usd": saved, "cache_write_usd": spend, "net_usd": saved - spend}


def _totals(
    sums: Sums, prices: dict[str, Price] | None, per_model: list[tuple[str, Sums]]
) -> dict[str, Any]:
    """The UsageTotals fields of ``sums``."""
    status = StatusCounts(sums["started"], sums["completed"], sums["failed"], sums["cancelled"])
    read = sums["cache_read_tokens"]
    denominator = (
        read
        + sums["cache_write_tokens_5m"]
        + sums["cache_write_tokens_30m"]
        + sums["cache_write_tokens_1h"]
        + sums["uncached_tokens"]
    )
    return {
        "runs": status.started + status.completed + status.failed + status.cancelled,
        "runs_by_status": status,
        **{name: sums[name] for name in _PLAIN_TOTALS},
        "cache_hit_ratio": read / denominator if denominator else 0.0,
        **_usd(prices, per_model),
    }


def _split(
    since: int | None, until: int | None, unit: int = HOUR_MS
) -> tuple[tuple[int | None, int | None] | None, list[tuple[int, int]]]:
    """Split [since, until] into the whole ``unit`` periods [lo, hi) inside it (None when
    there is none; either bound None when open) and the partial ranges at its edges."""
    lo = None if since is None else -(-since // unit) * unit
    hi = None if until is None else (until + 1) // unit * unit
    if since is not None and until is not None and lo is not None and hi is not None and lo >= hi:
        return None, [(since, until)]
    edges = []
    if since is not None and lo is not None and since < lo:
        edges.append((since, lo - 1))
    if until is not None and hi is not None and hi <= until:
        edges.append((hi, until))
    return (lo, hi), edges


def _run_sums(
    tx: Tx, workspace_id: str | None, since: int | None, until: int | None
) -> dict[tuple[str, str], Sums]:
    """Roll-up sums per (provider, model) of the runs started in [since, until]."""
    by_model: dict[tuple[str, str], Sums] = {}

    def gather(sql: str, params: list[Any]) -> None:
        for provider, model, *sums in tx.rows(sql, params):
            _add(by_model.setdefault((provider, model), _zero()), sums)

    hours, edges = _split(since, until)
    if hours is not None:
        where, params = conditions(
            ("hour_start >= ?", hours[0]),
            ("hour_start < ?", hours[1]),
            ("workspace_id = ?", workspace_id),
        )
        gather(
            f"SELECT provider, model, {_ROLLUP_SUMS} FROM run_rollup WHERE {where} "
            "GROUP BY provider, model",
            params,
        )
    for start, end in edges:
        where, params = conditions(
            ("started_at >= ?", start), ("started_at <= ?", end), ("workspace_id = ?", workspace_id)
        )
        gather(
            f"SELECT provider, model, {_RAW_SUMS} FROM runs WHERE {where} GROUP BY provider, model",
            params,
        )
    return by_model


def _locate(buckets: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket holding the value of ``rank`` (1-based) and how many values lie below it."""
    below = 0
    for bucket, count in buckets:
        if below + count >= rank:
            return bucket, below
        below += count
    raise ValueError(f"rank {rank} is beyond {below} values")


def _bucket_counts(
    tx: Tx, metric: str, workspace_id: str | None, since: int | None, until: int | None
) -> list[tuple[int, int]]:
    """Runs per value bucket of ``metric`` among the runs started in [since, until].

    Whole days come from the histogram; the partial days at the edges are counted in the
    bucket index, one range per bucket the histogram knows (every measured run is in it).
    """
    counts: dict[int, int] = {}

    def gather(sql: str, params: list[Any]) -> None:
        for bucket, n in tx.rows(sql, params):
            counts[int(bucket)] = counts.get(int(bucket), 0) + int(n)

    days, edges = _split(since, until, DAY_MS)
    if days is not None:
        where, params = conditions(
            ("metric = ?", metric),
            ("day_start >= ?", days[0]),
            ("day_start < ?", days[1]),
            ("workspace_id = ?", workspace_id),
        )
        gather(f"SELECT bucket, SUM(runs) FROM run_histogram WHERE {where} GROUP BY bucket", params)
    for start, end in edges:
        # COALESCE keeps the planner on the bucket index (bucket, then start time).
        where, params = conditions(
            ("r.started_at >= ?", start),
            ("r.started_at <= ?", end),
            ("COALESCE(r.workspace_id, '') = ?", workspace_id),
        )
        gather(
            f"SELECT b.bucket, COUNT(*) FROM "
            f"(SELECT DISTINCT bucket FROM run_histogram WHERE metric = ?) b "
            f"JOIN runs r ON r.{metric}_bucket = b.bucket WHERE {where} GROUP BY b.bucket",
            [metric, *params],
        )
    return sorted(counts.items())


def _percentiles(
    tx: Tx, metric: str, workspace_id: str | None, since: int | None, until: int | None
) -> Percentiles:
    """Nearest-rank p50 and p95 of ``metric`` (latency or ttft) over the window's runs.

    The bucket counts find the bucket of each rank; only that bucket's values are sorted.
    """
    buckets = _bucket_counts(tx, metric, workspace_id, since, until)
    n = sum(count for _, count in buckets)
    if not n:
        return Percentiles()
    # "+ 0" and COALESCE keep the planner off the start-time and workspace indexes: the
    # bucket index holds every column needed, so reading one bucket of it is cheapest.
    where, params = conditions(
        ("started_at + 0 >= ?", since),
        ("started_at + 0 <= ?", until),
        ("COALESCE(workspace_id, '') = ?", workspace_id),
    )
    found: list[float] = []
    for rank in (-(-50 * n // 100), -(-95 * n // 100)):  # ceil(p/100 * n), in integers
        bucket, below = _locate(buckets, rank)
        row = tx.rows(
            f"SELECT {metric}_ms FROM runs WHERE {metric}_bucket = ? AND {where} "
            f"ORDER BY {metric}_ms LIMIT 1 OFFSET ?",
            [bucket, *params, rank - below - 1],
        )
        found.append(float(row[0][0]))
    return Percentiles(n, found[0], found[1])


def usage_stats(
    tx: Tx,
    workspace_id: str | None,
    since: int | None,
    until: int | None,
    pricing: dict[str, Price] | None,
) -> UsageStats:
    """``get_usage_stats`` for runs started in [since, until] (inclusive, None = open)."""
    models = sorted(_run_sums(tx, workspace_id, since, until).items())
    everything = _zero()
    providers: dict[str, tuple[Sums, list[tuple[str, Sums]]]] = {}
    for (provider, model), sums in models:
        values = [sums[name] for name in ROLLUP_VALUES]
        _add(everything, values)
        provider_sums, provider_models = providers.setdefault(provider, (_zero(), []))
        _add(provider_sums, values)
        provider_models.append((model, sums))
    return UsageStats(
        workspace_id=workspace_id,
        since=since,
        until=until,
        latency_ms=_percentiles(tx, "latency", workspace_id, since, until),
        ttft_ms=_percentiles(tx, "ttft", workspace_id, since, until),
        by_provider=tuple(
            UsageBreakdown(provider=provider, **_totals(sums, pricing, per_model))
            for provider, (sums, per_model) in sorted(providers.items())
        ),
        by_model=tuple(
            UsageBreakdown(
                provider=provider, model=model, **_totals(sums, pricing, [(model, sums)])
            )
            for (provider, model), sums in models
        ),
        **_totals(everything, pricing, [(model, sums) for (_, model), sums in models]),
    )


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Validated ``cache_usage_totals`` filters (None means any)."""

    since: int | None = None
    until: int | None = None
    agent_id: str | None = None
    model: str | None = None
    provider: str | None = None
    prefix_key: str | None = None
    workspace_id: str | None = None


def cache_usage_totals(tx: Tx, f: UsageFilter) -> list[CacheUsageTotal]:
    """Per group key (prefix key, else provider:model) the sums of matching usage records.

    Whole hours come from the hourly usage roll-up, partial hours from the records.
    """
    filters = (
        # The group key is the prefix key whenever there is one; saying both keeps a
        # provider:model group that happens to spell the same text out.
        (
            "group_key = ? AND prefix_key = ?",
            None if f.prefix_key is None else (f.prefix_key, f.prefix_key),
        ),
        ("agent_id = ?", f.agent_id),
        ("model = ?", f.model),
        ("provider = ?", f.provider),
        ("workspace_id = ?", f.workspace_id),
    )
    sums: dict[tuple[str, str, str], list[int]] = {}

    def gather(sql: str, params: list[Any]) -> None:
        for key, provider, model, *values in tx.rows(sql, params):
            acc = sums.setdefault((key, provider, model), [0] * len(USAGE_ROLLUP_VALUES))
            for i, value in enumerate(values):
                acc[i] += int(value)

    hours, edges = _split(f.since, f.until)
    if hours is not None:
        where, params = conditions(
            ("hour_start >= ?", hours[0]), ("hour_start < ?", hours[1]), *filters
        )
        gather(
            f"SELECT group_key, provider, model, {_USAGE_ROLLUP_SUMS} FROM usage_rollup "
            f"WHERE {where} GROUP BY group_key, provider, model",
            params,
        )
    for start, end in edges:
        where, params = conditions(("ts >= ?", start), ("ts <= ?", end), *filters)
        gather(
            f"SELECT group_key, provider, model, {_USAGE_RAW_SUMS} FROM cache_usage "
            f"WHERE {where} GROUP BY group_key, provider, model",
            params,
        )
    # Sorted here, by code point, so every backend agrees whatever its collation.
    totals = []
    for (key, provider, model), (calls, hits, inp, read, w5m, w30m, w1h, unc) in sorted(
        sums.items()
    ):
        totals.append(
            CacheUsageTotal(
                key,
                provider,
                model,
                calls,
                hits,
                inp,
                read,
                w5m,
                w1h,
                unc,
                cache_write_tokens_30m=w30m,
            )
        )
    return totals
