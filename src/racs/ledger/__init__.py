"""The run ledger: an append-only, hash-chained event store of agent runs (see ledger.md)."""

from racs.ledger.aio import AsyncBatch, AsyncLedger, create_async_ledger
from racs.ledger.anchor import Anchor, parse_anchor
from racs.ledger.api import (
    Batch,
    Instant,
    Ledger,
    create_ledger,
    default_ledger_path,
    get_default_ledger_path,
)
from racs.ledger.model import (
    CacheUsageTotal,
    Event,
    Percentiles,
    Run,
    RunError,
    RunPage,
    StatusCounts,
    UsageBreakdown,
    UsageStats,
    UsageTotals,
    VerifyResult,
)

__all__ = [
    "Anchor",
    "AsyncBatch",
    "AsyncLedger",
    "Batch",
    "CacheUsageTotal",
    "Event",
    "Instant",
    "Ledger",
    "Percentiles",
    "Run",
    "RunError",
    "RunPage",
    "StatusCounts",
    "UsageBreakdown",
    "UsageStats",
    "UsageTotals",
    "VerifyResult",
    "create_async_ledger",
    "create_ledger",
    "default_ledger_path",
    "get_default_ledger_path",
    "parse_anchor",
]
