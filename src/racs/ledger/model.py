"""The ledger's value types: runs, events, pages, usage statistics and verification results.

Every value is a frozen dataclass with ``to_dict()`` giving snake_case keys (the names of
ledger.md); a non-finite float is written as ``None`` so the dict is always valid JSON.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

Instant = int | datetime | date | str
"""A moment: ms since the epoch, a datetime (naive = UTC), a date or an ISO string."""

RUN_STARTED: Final = "run.started"
RUN_AUTH_VALIDATED: Final = "run.auth_validated"
RUN_POLICY_EVALUATED: Final = "run.policy_evaluated"
RUN_ROUTED: Final = "run.routed"
RUN_PROVIDER_CALLED: Final = "run.provider_called"
RUN_COMPLETED: Final = "run.completed"
RUN_FAILED: Final = "run.failed"
RUN_RETRIED: Final = "run.retried"
RUN_CANCELLED: Final = "run.cancelled"
CACHE_USAGE: Final = "cache.usage"

AUTH_TYPES: Final = ("api", "consumer")
EXECUTION_MODES: Final = ("interactive", "background", "scheduled")
COMPLIANCE_MODES: Final = ("recommended", "permissive")
RUN_STATUSES: Final = ("started", "completed", "failed", "cancelled")
END_STATUSES: Final = ("completed", "failed")


def _plain(value: Any) -> Any:
    """Turn nested dataclasses, mappings and tuples into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Dictable:
    """Mixin giving a dataclass the ``to_dict()`` every ledger value offers."""

    def to_dict(self) -> dict[str, Any]:
        """The value as a JSON-ready dict with snake_case keys."""
        result: dict[str, Any] = _plain(self)
        return result


@dataclass(frozen=True, slots=True)
class RunError(_Dictable):
    """Why a run failed: a machine-readable code and a human message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Run(_Dictable):
    """One agent run, as projected from its events."""

    run_id: str
    workspace_id: str
    agent_id: str
    provider: str
    model: str
    auth_type: str
    execution_mode: str
    compliance_mode: str
    auth_risk: bool
    policy_override: bool
    status: str
    started_at: int
    ended_at: int | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cache_read_tokens: int | None
    cache_write_tokens_5m: int | None
    cache_write_tokens_1h: int | None
    prefix_key: str | None
    plan_id: str | None
    error: RunError | None
    retries: int
    metadata: Mapping[str, Any]
    event_count: int
    # Last, with a default, so code building a Run by position keeps working.
    cache_write_tokens_30m: int | None = None


@dataclass(frozen=True, slots=True)
class RunPage(_Dictable):
    """One page of ``query_runs``, newest first; pass ``next_cursor`` to get the next."""

    items: tuple[Run, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Event(_Dictable):
    """One stored event; ``hash`` is tagged with its algorithm (``sha256:<hex>``)."""

    position: int
    run_id: str | None
    seq: int | None
    type: str
    timestamp: int
    payload: Mapping[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class StatusCounts(_Dictable):
    """Runs counted by status."""

    started: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class Percentiles(_Dictable):
    """Nearest-rank p50 and p95 over ``count`` observed values (None when there are none)."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageTotals(_Dictable):
    """Run counts, tokens, spend and cache accounting over a set of runs.

    ``uncached_tokens`` sums ``max(0, input - read - write_5m - write_30m - write_1h)`` per
    run and
    ``cache_hit_ratio`` is ``read / (read + writes + uncached)`` (0 when empty).
    ``saved_usd``, ``cache_write_usd`` and ``net_usd`` are None unless a pricing table
    was given; models missing from it contribute nothing.
    """

    runs: int = 0
    runs_by_status: StatusCounts = StatusCounts()
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    auth_risk_runs: int = 0
    policy_override_runs: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens_5m: int = 0
    cache_write_tokens_30m: int = 0
    cache_write_tokens_1h: int = 0
    uncached_tokens: int = 0
    cache_hit_ratio: float = 0.0
    saved_usd: float | None = None
    cache_write_usd: float | None = None
    net_usd: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageBreakdown(UsageTotals):
    """Usage totals of one provider (``model`` None) or one provider's model."""

    provider: str
    model: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageStats(UsageTotals):
    """``get_usage_stats``: totals for the window plus percentiles and breakdowns."""

    workspace_id: str | None = None
    since: int | None = None
    until: int | None = None
    latency_ms: Percentiles = Percentiles()
    ttft_ms: Percentiles = Percentiles()
    by_provider: tuple[UsageBreakdown, ...] = ()
    by_model: tuple[UsageBreakdown, ...] = ()
    unpriced_models: tuple[str, ...] = ()
    """Models in the window that no price card or price database covers (token-only)."""


@dataclass(frozen=True, slots=True)
class CacheUsageTotal(_Dictable):
    """Sums of ``cache.usage`` records sharing one group key (prefix key, else provider:model)."""

    group_key: str
    provider: str
    model: str
    calls: int
    hits: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens_5m: int
    cache_write_tokens_1h: int
    uncached_tokens: int
    # Last, with a default, so code building a total by position keeps working.
    cache_write_tokens_30m: int = 0
    day_start: int | None = None
    """With ``by_day``: the UTC day (ms) these records fall on, so each day is priced
    at the prices then in force."""


@dataclass(frozen=True, slots=True)
class VerifyResult(_Dictable):
    """Outcome of walking the hash chain: the first bad position and why, or ok."""

    ok: bool
    checked: int
    first_bad_position: int | None = None
    reason: str | None = None
    head_hash: str | None = None
    pending: int = 0
    """Events acknowledged (durable) but not yet chained, hence not yet checked."""
