"""Keep-warm schedule and the resource registry: when to touch a cache, which live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from racs.core.model import RefreshEntry, ResourceDirective
from racs.core.tiers import seconds_of

REFRESH_FRACTION = 0.9
"""Touch a cache at 90 percent of its TTL: early enough for jitter, late enough to be cheap."""


@dataclass(slots=True)
class WarmEntry:
    """A tracked cache: its TTL and when it was last written."""

    prefix_key: str
    provider: str
    model: str
    ttl: str | float
    ttl_seconds: float
    last_write_at: float
    touches_left: int | None = None
    """Keep-warm touches that still pay (learned reuse); ``None``: no limit."""

    @property
    def refresh_at(self) -> float:
        """When the keep-warm touch is due (ms)."""
        return self.last_write_at + REFRESH_FRACTION * self.ttl_seconds * 1000

    @property
    def expires_at(self) -> float:
        """When the cache is gone (ms)."""
        return self.last_write_at + self.ttl_seconds * 1000

    def public(self) -> RefreshEntry:
        """The public, immutable view."""
        return RefreshEntry(
            self.prefix_key,
            self.provider,
            self.model,
            self.ttl,
            self.last_write_at,
            self.refresh_at,
        )


class KeepWarm:
    """Keep-warm entries by prefix key."""

    def __init__(self) -> None:
        self.entries: dict[str, WarmEntry] = {}

    def track(
        self,
        prefix_key: str,
        provider: str,
        model: str,
        ttl: str | float,
        ttl_seconds: float,
        now: float,
        touches: int | None = None,
    ) -> None:
        """Start (or restart) the TTL window of a prefix at ``now``; at most ``touches``
        keep-warm touches will be scheduled before the next plan (``None``: no limit)."""
        self.entries[prefix_key] = WarmEntry(
            prefix_key, provider, model, ttl, ttl_seconds, now, touches
        )

    def get(self, prefix_key: str) -> WarmEntry | None:
        """The entry of a prefix, if tracked."""
        return self.entries.get(prefix_key)

    def drop(self, prefix_key: str) -> None:
        """Stop tracking a prefix (no-op when untracked)."""
        self.entries.pop(prefix_key, None)

    def owners(self) -> Iterator[tuple[str, str]]:
        """(prefix key, provider) of every tracked entry."""
        return ((k, e.provider) for k, e in self.entries.items())

    def due(self, now: float) -> list[RefreshEntry]:
        """Due entries, most overdue first (ties by prefix key); expired ones are dropped.

        Improvement over @takk/racs: touching a cache that already expired pays a full
        write, so a dead entry is never returned.
        """
        dead = [k for k, e in self.entries.items() if now >= e.expires_at]
        for key in dead:
            del self.entries[key]
        due = [e for e in self.entries.values() if e.refresh_at <= now and e.touches_left != 0]
        due.sort(key=lambda e: (e.refresh_at, e.prefix_key))
        return [e.public() for e in due]

    def slide(self, prefix_key: str, now: float) -> bool:
        """The host touched the cache at ``now``: restart its window."""
        entry = self.entries.get(prefix_key)
        if entry is None:
            return False
        entry.last_write_at = now
        if entry.touches_left:
            entry.touches_left -= 1
        return True

    def state(self) -> list[dict[str, Any]]:
        """JSON-ready entries."""
        return [
            {
                "prefixKey": e.prefix_key,
                "provider": e.provider,
                "model": e.model,
                "ttl": e.ttl,
                "ttlSeconds": e.ttl_seconds,
                "lastWriteAt": e.last_write_at,
                **({} if e.touches_left is None else {"touchesLeft": e.touches_left}),
            }
            for e in self.entries.values()
        ]

    def load(self, data: list[dict[str, Any]]) -> None:
        """Restore entries saved by ``state``."""
        entries = {}
        for d in data:
            ttl = d["ttl"]
            if not isinstance(ttl, (str, int, float)) or isinstance(ttl, bool):
                raise ValueError("bad ttl")
            entry = WarmEntry(
                str(d["prefixKey"]),
                str(d["provider"]),
                str(d["model"]),
                ttl,
                float(d["ttlSeconds"]),
                float(d["lastWriteAt"]),
                None if d.get("touchesLeft") is None else int(d["touchesLeft"]),
            )
            entries[entry.prefix_key] = entry
        self.entries = entries


@dataclass(slots=True)
class ResourceRecord:
    """A server-side cached resource the engine believes exists."""

    resource_key: str
    provider: str
    model: str
    ttl_seconds: float
    last_write_at: float
    tokens: float

    @property
    def expires_at(self) -> float:
        """When the resource expires (ms)."""
        return self.last_write_at + self.ttl_seconds * 1000

    def state_at(self, now: float) -> str:
        """``expired``, ``due`` (last 10 percent of the TTL) or ``live``."""
        if now >= self.expires_at:
            return "expired"
        if now >= self.last_write_at + REFRESH_FRACTION * self.ttl_seconds * 1000:
            return "due"
        return "live"


class Resources:
    """The resource registry by resource key."""

    def __init__(self) -> None:
        self.records: dict[str, ResourceRecord] = {}

    def get(self, resource_key: str) -> ResourceRecord | None:
        """The record of a resource, if the engine believes it exists."""
        return self.records.get(resource_key)

    def put(self, record: ResourceRecord) -> None:
        """Remember (or replace) a resource."""
        self.records[record.resource_key] = record

    def drop(self, resource_key: str) -> ResourceRecord | None:
        """Forget a resource; the record it had, if any."""
        return self.records.pop(resource_key, None)

    def touch(self, resource_key: str, at: float) -> bool:
        """The host refreshed the resource at ``at``; False when no such record."""
        record = self.records.get(resource_key)
        if record is None:
            return False
        record.last_write_at = at
        return True

    def owners(self) -> Iterator[tuple[str, str]]:
        """(resource key, provider) of every record."""
        return ((k, r.provider) for k, r in self.records.items())

    def state(self) -> list[dict[str, Any]]:
        """JSON-ready records."""
        return [
            {
                "resourceKey": r.resource_key,
                "provider": r.provider,
                "model": r.model,
                "ttlSeconds": r.ttl_seconds,
                "lastWriteAt": r.last_write_at,
                "tokens": r.tokens,
            }
            for r in self.records.values()
        ]

    def load(self, data: list[dict[str, Any]]) -> None:
        """Restore records saved by ``state``."""
        records = {}
        for d in data:
            rec = ResourceRecord(
                str(d["resourceKey"]),
                str(d["provider"]),
                str(d["model"]),
                float(d["ttlSeconds"]),
                float(d["lastWriteAt"]),
                float(d["tokens"]),
            )
            records[rec.resource_key] = rec
        self.records = records


def keepwarm_ttl(directives: tuple[Any, ...]) -> tuple[str | float, float] | None:
    """The shortest TTL a plan caches with, as (label or seconds, seconds); None if none.

    A keep-warm entry follows its shortest-lived cache (engine.md section 6).
    """
    shortest: tuple[str | float, float] | None = None
    for directive in directives:
        if isinstance(directive, ResourceDirective):
            if directive.action == "delete":
                continue
            label: str | float = directive.ttl_seconds
            seconds = float(directive.ttl_seconds)
        elif directive.kind == "breakpoint":
            label = directive.ttl
            seconds = float(seconds_of(directive.ttl))
        else:
            continue
        if shortest is None or seconds < shortest[1]:
            shortest = (label, seconds)
    return shortest
