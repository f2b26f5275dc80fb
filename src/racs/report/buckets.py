"""Sums of requests along one dimension value: tokens by class, dollars by class, ratios."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from racs.core.accounting import Cost, Tokens

_TOKEN_FIELDS = tuple(f.name for f in fields(Tokens))
_COST_FIELDS = tuple(f.name for f in fields(Cost))


@dataclass(slots=True)
class Bucket:
    """Requests, tokens and dollars of one session, model, day, ... (or of everything)."""

    requests: int = 0
    unpriced: int = 0
    """Requests whose model has no price: counted in tokens, not in dollars."""
    read_back: float = 0.0
    """Written tokens a later request of the same stream read before they expired."""
    first_ms: float | None = None
    last_ms: float | None = None
    # Plain lists: adding a request to eight buckets is the report's inner loop.
    _tokens: list[float] = field(default_factory=lambda: [0.0] * len(_TOKEN_FIELDS))
    _cost: list[float] = field(default_factory=lambda: [0.0] * len(_COST_FIELDS))

    @property
    def tokens(self) -> Tokens:
        """Tokens by class, summed."""
        return Tokens(*self._tokens)

    @property
    def cost(self) -> Cost:
        """Dollars of the priced requests only (see ``unpriced``)."""
        return Cost(*self._cost)

    @property
    def token_sums(self) -> Sequence[float]:
        """The summed token classes in ``Tokens`` field order (no value object built)."""
        return self._tokens

    @property
    def cost_sums(self) -> Sequence[float]:
        """The summed dollars in ``Cost`` field order (no value object built)."""
        return self._cost

    def add(
        self, tokens: Sequence[float], cost: Sequence[float] | None, timestamp_ms: float
    ) -> None:
        """Count one request: its token classes and dollars in field order."""
        self.requests += 1
        acc = self._tokens
        for i, v in enumerate(tokens):
            acc[i] += v
        if cost is None:
            self.unpriced += 1
        else:
            acc = self._cost
            for i, v in enumerate(cost):
                acc[i] += v
        if self.first_ms is None or timestamp_ms < self.first_ms:
            self.first_ms = timestamp_ms
        if self.last_ms is None or timestamp_ms > self.last_ms:
            self.last_ms = timestamp_ms

    def merge(self, other: Bucket) -> None:
        """Add everything ``other`` counted."""
        self.requests += other.requests
        self.unpriced += other.unpriced
        self.read_back += other.read_back
        for i, v in enumerate(other.token_sums):
            self._tokens[i] += v
        for i, v in enumerate(other.cost_sums):
            self._cost[i] += v
        for ms in (other.first_ms, other.last_ms):
            if ms is not None:
                self.first_ms = ms if self.first_ms is None else min(self.first_ms, ms)
                self.last_ms = ms if self.last_ms is None else max(self.last_ms, ms)

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


def as_row(obj: Tokens | Cost) -> tuple[float, ...]:
    """A ``Tokens`` or ``Cost`` as the tuple ``Bucket.add`` takes."""
    names = _TOKEN_FIELDS if isinstance(obj, Tokens) else _COST_FIELDS
    return tuple(getattr(obj, n) for n in names)
