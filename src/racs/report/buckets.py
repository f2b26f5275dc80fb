"""Sums of requests along one dimension value: tokens by class, dollars by class, ratios."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..accounting import Cost, Tokens


@dataclass(slots=True)
class Bucket:
    """Requests, tokens and dollars of one session, model, day, ... (or of everything)."""

    requests: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    cost: Cost = field(default_factory=Cost)
    """Dollars of the priced requests only (see ``unpriced``)."""
    unpriced: int = 0
    """Requests whose model has no price: counted in tokens, not in dollars."""
    read_back: float = 0.0
    """Written tokens a later request of the same stream read before they expired."""
    first_ms: float | None = None
    last_ms: float | None = None

    def add(self, tokens: Tokens, cost: Cost | None, timestamp_ms: float) -> None:
        """Count one request."""
        self.requests += 1
        self.tokens = self.tokens + tokens
        if cost is None:
            self.unpriced += 1
        else:
            self.cost = self.cost + cost
        if self.first_ms is None or timestamp_ms < self.first_ms:
            self.first_ms = timestamp_ms
        if self.last_ms is None or timestamp_ms > self.last_ms:
            self.last_ms = timestamp_ms

    @property
    def hit_ratio(self) -> float | None:
        """Share of all-in input tokens read from the cache."""
        return self.tokens.read / self.tokens.input if self.tokens.input else None

    @property
    def prefix_efficiency(self) -> float | None:
        """Share of written tokens read back before they expired."""
        return min(1.0, self.read_back / self.tokens.writes) if self.tokens.writes else None

    def to_dict(self) -> dict[str, Any]:
        """Wire form (see the report schema in the README)."""
        t = self.tokens
        c = self.cost
        return {
            "requests": self.requests,
            "unpricedRequests": self.unpriced,
            "tokens": {
                "fresh": int(t.fresh),
                "read": int(t.read),
                "write5m": int(t.write_5m),
                "write30m": int(t.write_30m),
                "write1h": int(t.write_1h),
                "output": int(t.output),
                "input": int(t.input),
            },
            "usd": {
                "fresh": c.fresh,
                "read": c.read,
                "write5m": c.write_5m,
                "write30m": c.write_30m,
                "write1h": c.write_1h,
                "output": c.output,
                "total": c.total,
                "saved": c.saved,
                "writePremium": c.write_premium,
            },
            "hitRatio": self.hit_ratio,
            "prefixEfficiency": self.prefix_efficiency,
            "readBackTokens": int(self.read_back),
            "firstMs": self.first_ms,
            "lastMs": self.last_ms,
        }
