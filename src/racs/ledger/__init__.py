"""The run ledger: an append-only, hash-chained event store of agent runs (see ledger.md)."""

from racs.ledger.aio import AsyncBatch, AsyncLedger, create_async_ledger
from racs.ledger.anchor import Anchor, parse_anchor
from racs.ledger.api import Ledger
from racs.ledger.batch import Batch
from racs.ledger.factory import create_ledger, default_ledger_path, get_default_ledger_path
from racs.ledger.filters import RunFilter
from racs.ledger.model import (
    CacheUsageTotal,
    Event,
    Instant,
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
    "RunFilter",
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
