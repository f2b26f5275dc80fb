"""Writes waiting for the shared state: usage, drift reports, offline resources and touches.

The outbox is what makes an outage lossless. Increments merge per key in the open batch;
a batch is frozen under the next number of this host before it is sent, and resent as is
until it is confirmed, in order, so a reply lost in transit never counts twice (the
server keeps each host's highest applied number). Bounded: past the caps the
oldest waiting items are dropped with a warning.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from racs.core.model import CacheUsage, DriftReport
from racs.core.prices import PriceBook
from racs.planning.usage import FIELDS, Aggregate, UsageBook
from racs.state.redis_codec import num

log = logging.getLogger("racs")

MAX_BATCHES = 10_000
MAX_KEYS = 10_000
MAX_REPORTS = 200
MAX_RESOURCES = 10_000
UNPRICED = "unpriced:"
"""Hash field prefix naming a model no price covers (one field per model)."""


@dataclass(slots=True)
class Batch:
    """Increments and reports sent together, applied at most once under number ``seq``."""

    seq: int = 0
    usage: dict[str, Aggregate] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)

    def args(self, ring: int) -> list[str]:
        """The APPLY script's arguments after ``ns`` and the marker TTL."""
        out = [str(ring), str(len(self.reports)), *self.reports, str(len(FIELDS)), *FIELDS]
        for agg in self.usage.values():
            out += [agg.key, agg.provider, agg.model, agg.agent_id or "", "1" if agg.priced else ""]
            out.append("\x1f".join(sorted(agg.unpriced)))
            out += [num(getattr(agg, f)) for f in FIELDS]
        return out


@dataclass(frozen=True, slots=True)
class OfflineResource:
    """A resource this host created or refreshed while the fleet was away."""

    key: str
    provider: str
    model: str
    ttl_seconds: float
    last_write_at: float
    tokens: float


class Outbox:
    """The open batch, the frozen (sent, unconfirmed) batches and offline resources."""

    def __init__(self) -> None:
        self.open = Batch()
        self.frozen: deque[Batch] = deque()
        self.seq = 0
        self.resources: dict[str, OfflineResource] = {}
        self.slides: dict[str, float] = {}
        self.invalidations: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return bool(
            self.open.usage
            or self.open.reports
            or self.frozen
            or self.resources
            or self.slides
            or self.invalidations
        )

    def add_usage(self, delta: Aggregate) -> None:
        """Merge one aggregate's increments into the open batch."""
        usage = self.open.usage
        agg = usage.get(delta.key)
        if agg is None:
            if len(usage) >= MAX_KEYS:
                self.freeze()
                usage = self.open.usage
            usage[delta.key] = delta
            return
        for f in FIELDS:
            setattr(agg, f, getattr(agg, f) + getattr(delta, f))
        agg.priced = agg.priced or delta.priced
        agg.unpriced |= delta.unpriced
        if agg.agent_id is None:
            agg.agent_id = delta.agent_id

    def add_report(self, report: DriftReport) -> None:
        """Queue a drift report for the fleet's ring."""
        reports = self.open.reports
        reports.append(json.dumps(report.to_dict(), separators=(",", ":")))
        if len(reports) > MAX_REPORTS:
            del reports[0]

    def add_resource(self, resource: OfflineResource) -> None:
        """Remember a resource created offline, to publish when the fleet is back."""
        self.resources.pop(resource.key, None)
        self.resources[resource.key] = resource
        if len(self.resources) > MAX_RESOURCES:
            del self.resources[next(iter(self.resources))]

    def add_slide(self, prefix_key: str, at: float) -> None:
        """Remember a keep-warm touch made offline (the latest per prefix wins)."""
        self.slides[prefix_key] = max(at, self.slides.get(prefix_key, at))
        if len(self.slides) > MAX_RESOURCES:
            del self.slides[next(iter(self.slides))]

    def add_invalidation(self, prefix_key: str | None, provider: str | None) -> None:
        """Remember an invalidation made offline; it forgets offline resources it matches."""
        for key, r in list(self.resources.items()):
            if (prefix_key is None or key == prefix_key) and (
                provider is None or r.provider == provider
            ):
                del self.resources[key]
        self.invalidations.append((prefix_key or "", provider or ""))
        if len(self.invalidations) > MAX_REPORTS:
            del self.invalidations[0]

    def freeze(self) -> None:
        """Give the open batch an id and queue it for sending; its content is final now."""
        batch = self.open
        if not batch.usage and not batch.reports:
            return
        self.seq += 1
        batch.seq = self.seq
        self.frozen.append(batch)
        self.open = Batch()
        if len(self.frozen) > MAX_BATCHES:
            self.frozen.popleft()
            log.warning("racs: shared state outbox full; the oldest usage batch was dropped")


class QueueingBook(UsageBook):
    """A usage book that keeps its aggregates as before and hands each change, as an exact
    delta of its own, to ``queue`` (the shared state's outbox)."""

    def __init__(
        self, prices: PriceBook, max_keys: int, queue: Callable[[Aggregate], None]
    ) -> None:
        super().__init__(prices, max_keys)
        self._queue = queue

    def add(self, u: CacheUsage, key: str) -> str | None:
        """Account locally and queue the same record's increments."""
        evicted = super().add(u, key)
        scratch = UsageBook(self.prices, 1)
        scratch.add(u, key)
        self._queue(scratch.aggregates[key])
        return evicted

    def add_storage(
        self, key: str, provider: str, model: str, agent_id: str | None, usd: float
    ) -> str | None:
        """Account storage locally and queue the same charge."""
        evicted = super().add_storage(key, provider, model, agent_id, usd)
        scratch = UsageBook(self.prices, 1)
        scratch.add_storage(key, provider, model, agent_id, usd)
        self._queue(scratch.aggregates[key])
        return evicted
