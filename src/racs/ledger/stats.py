"""Usage statistics over runs and cache-usage totals over ``cache.usage`` records.

Run statistics read the hourly roll-up for whole hours inside the window and the runs
themselves for the partial hours at its edges, so a window over a million runs sums a few
thousand roll-up rows. Percentiles are exact (nearest rank: the value at rank
``ceil(p/100 * n)`` of the sorted values): a daily histogram of value buckets locates the
bucket of each rank, and only that bucket's values are read and sorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import Tokens, cost_of, hit_ratio
from racs.core.prices import PriceBook
from racs.core.tiers import TIER, TIER_NAMES
from racs.ledger.backend import Tx
from racs.ledger.model import (
    RUN_STATUSES,
    CacheUsageTotal,
    Percentiles,
    StatusCounts,
    UsageBreakdown,
    UsageStats,
)
from racs.ledger.projection import USAGE_ROLLUP_VALUES, USAGE_SUMS
from racs.ledger.row import DAY_MS, HOUR_MS, ROLLUP_VALUES, RUN_SUMS
from racs.ledger.store import conditions

# Integer division (both backends): psycopg reserves '%' for placeholders.
_DAY_OF: Final = "({0} / " + str(DAY_MS) + " * " + str(DAY_MS) + ")"
"""SQL of the UTC day start of a millisecond column (both backends)."""
_ROLLUP_SUMS: Final = ", ".join(f"SUM({c})" for c in ROLLUP_VALUES)
# The same sums computed from the rows themselves, for the partial hours at the edges.
_RAW_SUMS: Final = ", ".join(f"SUM({s.sql})" for s in RUN_SUMS)
_USAGE_ROLLUP_SUMS: Final = ", ".join(f"SUM({c})" for c in USAGE_ROLLUP_VALUES)
_USAGE_RAW_SUMS: Final = ", ".join(f"SUM({s.sql})" for s in USAGE_SUMS)
_PLAIN_TOTALS: Final = tuple(name for name in ROLLUP_VALUES if name not in RUN_STATUSES)


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


PerDay = list[tuple[str, str, int, Sums]]
"""Sums per (provider, model, UTC day start): prices are those in force on each day."""


def _usd(prices: PriceBook | None, per_day: PerDay) -> dict[str, Any]:
    """Saved, cache-write and net USD of some sums (nothing without prices).

    Each (model, day) is priced at the price in force that UTC day (dated prices change
    at day boundaries); an aggregate has no per-request size, so long-context tiers are
    not applied here (the traffic report prices each request).
    """
    if prices is None:
        return {}
    saved = spend = 0.0
    priced = False
    for provider, model, day, sums in per_day:
        rates = prices.rates(provider, model, timestamp_ms=day)
        if rates is None:
            continue
        priced = True
        cost = cost_of(
            Tokens(
                read=sums["cache_read_tokens"],
                write_5m=sums["cache_write_tokens_5m"],
                write_30m=sums["cache_write_tokens_30m"],
                write_1h=sums["cache_write_tokens_1h"],
            ),
            rates,
        )
        saved += cost.saved
        spend += cost.write_premium
    if not priced and per_day:
        return {}
    return {"saved_usd": saved, "cache_write_usd": spend, "net_usd": saved - spend}


def _totals(sums: Sums, prices: PriceBook | None, per_day: PerDay) -> dict[str, Any]:
    """The UsageTotals fields of ``sums``."""
    status = StatusCounts(**{name: sums[name] for name in RUN_STATUSES})
    writes = sum(sums[TIER[t].usage_field] for t in TIER_NAMES)
    return {
        "runs": status.started + status.completed + status.failed + status.cancelled,
        "runs_by_status": status,
        **{name: sums[name] for name in _PLAIN_TOTALS},
        "cache_hit_ratio": hit_ratio(sums["cache_read_tokens"], writes, sums["uncached_tokens"]),
        **_usd(prices, per_day),
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
) -> dict[tuple[str, str, int], Sums]:
    """Roll-up sums per (provider, model, UTC day) of the runs started in [since, until]."""
    by_day: dict[tuple[str, str, int], Sums] = {}

    def gather(sql: str, params: list[Any]) -> None:
        for provider, model, day, *sums in tx.rows(sql, params):
            _add(by_day.setdefault((provider, model, int(day)), _zero()), sums)

    hours, edges = _split(since, until)
    if hours is not None:
        where, params = conditions(
            ("hour_start >= ?", hours[0]),
            ("hour_start < ?", hours[1]),
            ("workspace_id = ?", workspace_id),
        )
        gather(
            f"SELECT provider, model, {_DAY_OF.format('hour_start')}, {_ROLLUP_SUMS} "
            f"FROM run_rollup WHERE {where} GROUP BY 1, 2, 3",
            params,
        )
    for start, end in edges:
        where, params = conditions(
            ("started_at >= ?", start), ("started_at <= ?", end), ("workspace_id = ?", workspace_id)
        )
        gather(
            f"SELECT provider, model, {_DAY_OF.format('started_at')}, {_RAW_SUMS} "
            f"FROM runs WHERE {where} GROUP BY 1, 2, 3",
            params,
        )
    return by_day


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
    prices: PriceBook | None,
) -> UsageStats:
    """``get_usage_stats`` for runs started in [since, until] (inclusive, None = open)."""
    days = sorted(_run_sums(tx, workspace_id, since, until).items())
    models: dict[tuple[str, str], tuple[Sums, PerDay]] = {}
    providers: dict[str, tuple[Sums, PerDay]] = {}
    everything: tuple[Sums, PerDay] = (_zero(), [])
    for (provider, model, day), sums in days:
        values = [sums[name] for name in ROLLUP_VALUES]
        for acc in (
            models.setdefault((provider, model), (_zero(), [])),
            providers.setdefault(provider, (_zero(), [])),
            everything,
        ):
            _add(acc[0], values)
            acc[1].append((provider, model, day, sums))
    return UsageStats(
        workspace_id=workspace_id,
        since=since,
        until=until,
        latency_ms=_percentiles(tx, "latency", workspace_id, since, until),
        ttft_ms=_percentiles(tx, "ttft", workspace_id, since, until),
        by_provider=tuple(
            UsageBreakdown(provider=provider, **_totals(sums, prices, per_day))
            for provider, (sums, per_day) in sorted(providers.items())
        ),
        by_model=tuple(
            UsageBreakdown(provider=provider, model=model, **_totals(sums, prices, per_day))
            for (provider, model), (sums, per_day) in sorted(models.items())
        ),
        unpriced_models=tuple(
            sorted(
                model
                for (provider, model) in models
                if prices is None or prices.rates(provider, model) is None
            )
        ),
        **_totals(everything[0], prices, everything[1]),
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
    by_day: bool = False
    """Split each group by UTC day."""


def _day_of(ms: int) -> int:
    """``_DAY_OF`` in Python: SQL's integer division truncates toward zero."""
    day = abs(ms) // DAY_MS * DAY_MS
    return day if ms >= 0 else -day


def cache_usage_totals(tx: Tx, f: UsageFilter) -> list[CacheUsageTotal]:
    """Per group key (prefix key, else provider:model) the sums of matching usage records.

    Whole hours come from the hourly usage roll-up, partial hours from the records.
    """
    # Hours, not days, from the roll-up: grouped in its key's order (no sort), added up
    # into days below.
    day_hours = "hour_start" if f.by_day else "0"
    day_ts = _DAY_OF.format("ts") if f.by_day else "0"
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
    sums: dict[tuple[str, str, str, int], list[int]] = {}

    def gather(sql: str, params: list[Any]) -> None:
        for key, provider, model, day, *values in tx.rows(sql, params):
            acc = sums.setdefault(
                (key, provider, model, _day_of(int(day))), [0] * len(USAGE_ROLLUP_VALUES)
            )
            for i, value in enumerate(values):
                acc[i] += int(value)

    hours, edges = _split(f.since, f.until)
    if hours is not None:
        where, params = conditions(
            ("hour_start >= ?", hours[0]), ("hour_start < ?", hours[1]), *filters
        )
        gather(
            f"SELECT group_key, provider, model, {day_hours}, {_USAGE_ROLLUP_SUMS} "
            f"FROM usage_rollup WHERE {where} GROUP BY 1, 2, 3, 4",
            params,
        )
    for start, end in edges:
        where, params = conditions(("ts >= ?", start), ("ts <= ?", end), *filters)
        gather(
            f"SELECT group_key, provider, model, {day_ts}, {_USAGE_RAW_SUMS} "
            f"FROM cache_usage WHERE {where} GROUP BY 1, 2, 3, 4",
            params,
        )
    # Sorted here, by code point, so every backend agrees whatever its collation.
    totals = []
    for (key, provider, model, day), (calls, hits, inp, read, w5m, w30m, w1h, unc) in sorted(
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
                day_start=day if f.by_day else None,
            )
        )
    return totals
