"""Usage statistics over runs and cache-usage totals over ``cache.usage`` records.

Run statistics read the hourly roll-up for whole hours inside the window and the runs
themselves for the partial hours at its edges, so a window over a million runs sums a few
thousand roll-up rows. Percentiles are exact (nearest rank: the value at rank
``ceil(p/100 * n)`` of the sorted values), read from the value-ordered metric indexes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from racs.errors import invalid
from racs.ledger import validate as v
from racs.ledger.backend import Row, Tx
from racs.ledger.model import (
    CacheUsageTotal,
    Percentiles,
    StatusCounts,
    UsageBreakdown,
    UsageStats,
    UsageTotals,
)
from racs.ledger.projection import HOUR_MS, ROLLUP_VALUES

_PRICE_KEYS: Final = (
    ("input", "inputPerMTok", "input_per_mtok"),
    ("cache_read", "cacheReadPerMTok", "cache_read_per_mtok"),
    ("write_5m", "cacheWrite5mPerMTok", "cache_write_5m_per_mtok"),
    ("write_1h", "cacheWrite1hPerMTok", "cache_write_1h_per_mtok"),
)

_ROLLUP_SUMS: Final = ", ".join(f"SUM({c})" for c in ROLLUP_VALUES)
_UNCACHED: Final = (
    "COALESCE(input_tokens, 0) - COALESCE(cache_read_tokens, 0)"
    " - COALESCE(cache_write_tokens_5m, 0) - COALESCE(cache_write_tokens_1h, 0)"
)
# The same sums as the roll-up, computed from runs (must mirror RunState.contribution).
_RAW_SUMS: Final = ", ".join(
    [
        *(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)"
          for s in ("started", "completed", "failed", "cancelled")),
        *(f"SUM(COALESCE({c}, 0))" for c in ("input_tokens", "output_tokens", "total_tokens",
                                             "cost_usd")),
        "SUM(auth_risk)",
        "SUM(policy_override)",
        *(f"SUM(COALESCE({c}, 0))" for c in ("cache_read_tokens", "cache_write_tokens_5m",
                                             "cache_write_tokens_1h")),
        f"SUM(CASE WHEN {_UNCACHED} > 0 THEN {_UNCACHED} ELSE 0 END)",
    ]
)
_COST: Final = ROLLUP_VALUES.index("cost_usd")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    cache_read: float
    write_5m: float
    write_1h: float


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
        )
    return result


class _Sums:
    """Running sums in ROLLUP_VALUES order (tokens as int, cost as float)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[Any] = [0] * len(ROLLUP_VALUES)
        self.values[_COST] = 0.0

    def add(self, row: Row | list[Any]) -> None:
        for i, value in enumerate(row):
            if value is not None:
                # PostgreSQL sums BIGINT as NUMERIC; normalise to int/float here.
                self.values[i] += float(value) if i == _COST else int(value)

    def totals(self, price: dict[str, Price] | None, models: list[tuple[str, _Sums]]) -> dict[
        str, Any
    ]:
        (started, completed, failed, cancelled, inp, out, total, cost, risk, override, read,
         w5m, w1h, unc) = self.values
        denominator = read + w5m + w1h + unc
        fields: dict[str, Any] = {
            "runs": started + completed + failed + cancelled,
            "runs_by_status": StatusCounts(started, completed, failed, cancelled),
            "input_tokens": inp,
            "output_tokens": out,
            "total_tokens": total,
            "cost_usd": cost,
            "auth_risk_runs": risk,
            "policy_override_runs": override,
            "cache_read_tokens": read,
            "cache_write_tokens_5m": w5m,
            "cache_write_tokens_1h": w1h,
            "uncached_tokens": unc,
            "cache_hit_ratio": read / denominator if denominator else 0.0,
        }
        if price is not None:
            saved = spend = 0.0
            for model, sums in models:
                p = price.get(model)
                if p is None:
                    continue
                m_read, m_w5m, m_w1h = sums.values[10], sums.values[11], sums.values[12]
                saved += m_read / 1e6 * (p.input - p.cache_read)
                spend += max(0.0, m_w5m / 1e6 * (p.write_5m - p.input))
                spend += max(0.0, m_w1h / 1e6 * (p.write_1h - p.input))
            fields.update(saved_usd=saved, cache_write_usd=spend, net_usd=saved - spend)
        return fields


def _hours(since: int | None, until: int | None) -> tuple[
    int | None, int | None, list[tuple[int, int]], bool
]:
    """Split a window into whole roll-up hours [lo, hi) and the partial edges read raw."""
    lo = None if since is None else -(-since // HOUR_MS) * HOUR_MS
    hi = None if until is None else (until + 1) // HOUR_MS * HOUR_MS
    if since is not None and until is not None and lo is not None and hi is not None \
            and lo >= hi:
        return None, None, [(since, until)], False
    edges = []
    if since is not None and lo is not None and since < lo:
        edges.append((since, lo - 1))
    if until is not None and hi is not None and hi <= until:
        edges.append((hi, until))
    return lo, hi, edges, True


def _percentiles(tx: Tx, metric: str, workspace_id: str | None, since: int | None,
                 until: int | None) -> Percentiles:
    where = [f"{metric}_bucket IS NOT NULL"]
    params: list[Any] = []
    for clause, value in (("started_at >= ?", since), ("started_at <= ?", until),
                          ("workspace_id = ?", workspace_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    condition = " AND ".join(where)
    buckets = tx.rows(
        f"SELECT {metric}_bucket, COUNT(*) FROM runs WHERE {condition} "
        f"GROUP BY {metric}_bucket ORDER BY {metric}_bucket",
        params,
    )
    n = sum(int(c) for _, c in buckets)
    if not n:
        return Percentiles()
    found: list[float] = []
    for rank in (-(-50 * n // 100), -(-95 * n // 100)):  # nearest rank: ceil(p/100 * n)
        below = 0
        for bucket, c in buckets:
            if below + int(c) >= rank:
                break
            below += int(c)
        row = tx.rows(
            f"SELECT {metric}_ms FROM runs WHERE {condition} AND {metric}_bucket = ? "
            f"ORDER BY {metric}_ms LIMIT 1 OFFSET ?",
            [*params, bucket, rank - below - 1],
        )
        found.append(float(row[0][0]))
    return Percentiles(n, found[0], found[1])


def usage_stats(tx: Tx, workspace_id: str | None, since: int | None, until: int | None,
                pricing: dict[str, Price] | None) -> UsageStats:
    """``get_usage_stats`` for runs started in [since, until] (inclusive, None = open)."""
    by_model: dict[tuple[str, str], _Sums] = {}

    def gather(rows: list[Row]) -> None:
        for provider, model, *sums in rows:
            by_model.setdefault((provider, model), _Sums()).add(sums)

    ws_clause = " AND workspace_id = ?" if workspace_id is not None else ""
    ws_params = [workspace_id] if workspace_id is not None else []
    lo, hi, edges, use_rollup = _hours(since, until)
    if use_rollup:
        clauses = ["1 = 1"]
        params: list[Any] = []
        if lo is not None:
            clauses.append("hour_start >= ?")
            params.append(lo)
        if hi is not None:
            clauses.append("hour_start < ?")
            params.append(hi)
        gather(tx.rows(
            f"SELECT provider, model, {_ROLLUP_SUMS} FROM run_rollup "
            f"WHERE {' AND '.join(clauses)}{ws_clause} GROUP BY provider, model",
            [*params, *ws_params],
        ))
    for start, end in edges:
        gather(tx.rows(
            f"SELECT provider, model, {_RAW_SUMS} FROM runs "
            f"WHERE started_at >= ? AND started_at <= ?{ws_clause} GROUP BY provider, model",
            [start, end, *ws_params],
        ))

    everything = _Sums()
    providers: dict[str, _Sums] = {}
    provider_models: dict[str, list[tuple[str, _Sums]]] = {}
    model_rows = []
    for (provider, model), sums in sorted(by_model.items()):
        everything.add(sums.values)
        providers.setdefault(provider, _Sums()).add(sums.values)
        provider_models.setdefault(provider, []).append((model, sums))
        model_rows.append(
            UsageBreakdown(provider=provider, model=model,
                           **sums.totals(pricing, [(model, sums)]))
        )
    return UsageStats(
        workspace_id=workspace_id,
        since=since,
        until=until,
        latency_ms=_percentiles(tx, "latency", workspace_id, since, until),
        ttft_ms=_percentiles(tx, "ttft", workspace_id, since, until),
        by_provider=tuple(
            UsageBreakdown(provider=p, **sums.totals(pricing, provider_models[p]))
            for p, sums in sorted(providers.items())
        ),
        by_model=tuple(model_rows),
        **everything.totals(pricing, [(m, s) for (_, m), s in sorted(by_model.items())]),
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
    """Per group key (prefix key, else provider:model) the sums of matching usage records."""
    clauses = ["1 = 1"]
    params: list[Any] = []
    # group_key equals the prefix key whenever one is set: filtering on both lets the
    # (group_key, ts) index find the rows.
    for clause, value in (
        ("group_key = ? AND prefix_key = ?", None if f.prefix_key is None
         else (f.prefix_key, f.prefix_key)),
        ("ts >= ?", None if f.since is None else (f.since,)),
        ("ts <= ?", None if f.until is None else (f.until,)),
        ("agent_id = ?", None if f.agent_id is None else (f.agent_id,)),
        ("model = ?", None if f.model is None else (f.model,)),
        ("provider = ?", None if f.provider is None else (f.provider,)),
        ("workspace_id = ?", None if f.workspace_id is None else (f.workspace_id,)),
    ):
        if value is not None:
            clauses.append(clause)
            params.extend(value)
    rows = tx.rows(
        "SELECT group_key, provider, model, COUNT(*), "
        "SUM(CASE WHEN cache_read_tokens > 0 THEN 1 ELSE 0 END), SUM(input_tokens), "
        "SUM(cache_read_tokens), SUM(cache_write_tokens_5m), SUM(cache_write_tokens_1h), "
        f"SUM(uncached_tokens) FROM cache_usage WHERE {' AND '.join(clauses)} "
        "GROUP BY group_key, provider, model ORDER BY group_key, provider, model",
        params,
    )
    return [
        CacheUsageTotal(key, provider, model, *(int(x) for x in sums))
        for key, provider, model, *sums in rows
    ]
