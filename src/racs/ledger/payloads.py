"""Typed readers of the ledger's event payloads: one decoder per payload, one pager.

The ledger validates every payload when it is appended (``ledger.events``), so a reader
normally meets well-formed data; these decoders are the one place that says what a
reader does with what it meets anyway (an older record, a hand-edited file):

- a missing or ``null`` token count is 0; a count that is not a whole number >= 0 (or a
  bool) is a ``ValueError`` the caller reports against the record;
- provider, model, prefix key, agent and workspace fall back to the run's
  ``run.started`` payload when the usage does not name them; a usage that ends with no
  provider or model is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import uncached
from racs.core.model import CacheUsage
from racs.ledger.model import CACHE_USAGE, Event

WRITE_FIELDS: Final = (
    ("5m", "cache_write_tokens_5m"),
    ("30m", "cache_write_tokens_30m"),
    ("1h", "cache_write_tokens_1h"),
)
"""(tier, payload field) of every cache-write count a usage payload may carry."""

COUNT_FIELDS: Final = ("input_tokens", "cache_read_tokens", *(f for _, f in WRITE_FIELDS))

_NO_FALLBACK: Final[Mapping[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class UsagePayload:
    """A decoded ``cache.usage`` payload (also the usage counts a ``run.completed`` carries)."""

    provider: str
    model: str
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens_5m: int
    cache_write_tokens_30m: int
    cache_write_tokens_1h: int
    timestamp: int | None
    """The usage's own time in ms since the epoch, when it gave one (else the event's)."""
    prefix_key: str | None
    agent_id: str | None
    workspace_id: str | None

    @property
    def writes(self) -> dict[str, int]:
        """Cache-write tokens by tier name."""
        return {
            "5m": self.cache_write_tokens_5m,
            "30m": self.cache_write_tokens_30m,
            "1h": self.cache_write_tokens_1h,
        }

    @property
    def uncached_tokens(self) -> int:
        """Input tokens neither read from nor written to the cache."""
        return uncached(
            self.input_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens_5m,
            self.cache_write_tokens_30m,
            self.cache_write_tokens_1h,
        )

    @property
    def group_key(self) -> str:
        """The key usage is grouped by: the prefix key, else ``provider:model``."""
        return self.prefix_key or f"{self.provider}:{self.model}"

    def at(self, event_timestamp: int) -> int:
        """The usage's time: its own timestamp when it gave one, else the event's."""
        return event_timestamp if self.timestamp is None else self.timestamp

    def usage(self, event_timestamp: int, run_id: str | None = None) -> CacheUsage:
        """The engine's value type for this record, every write tier included."""
        return CacheUsage(
            provider=self.provider,
            model=self.model,
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens_5m=self.cache_write_tokens_5m,
            cache_write_tokens_1h=self.cache_write_tokens_1h,
            cache_write_tokens_30m=self.cache_write_tokens_30m,
            prefix_key=self.prefix_key,
            timestamp=self.at(event_timestamp),
            agent_id=self.agent_id,
            run_id=run_id,
        )


def decode_usage(
    payload: Mapping[str, Any], started: Mapping[str, Any] = _NO_FALLBACK
) -> UsagePayload:
    """Decode a usage payload by the rules above; ``started`` is the run's start payload."""
    counts = {name: _count(payload, name) for name in COUNT_FIELDS}
    provider = _text(payload.get("provider")) or _text(started.get("provider"))
    model = _text(payload.get("model")) or _text(started.get("model"))
    if provider is None or model is None:
        raise ValueError("provider or model missing")
    stamp = payload.get("timestamp")
    return UsagePayload(
        provider=provider,
        model=model,
        timestamp=stamp if type(stamp) is int else None,
        prefix_key=_field(payload, started, "prefix_key"),
        agent_id=_field(payload, started, "agent_id"),
        workspace_id=_field(payload, started, "workspace_id"),
        **counts,
    )


def iter_events(
    ledger: Any,
    *,
    type: str | None = None,
    after_position: int | None = None,
    limit: int | None = None,
    page: int = 1000,
    **filters: Any,
) -> Iterator[Event]:
    """Events of ``ledger`` in position order after ``after_position``, page by page.

    ``filters`` are the other ones of ``Ledger.query_events`` (run_id, since, until);
    ``limit`` caps the total (None: every matching event).
    """
    position, remaining = after_position, limit
    while remaining is None or remaining > 0:
        size = page if remaining is None else min(page, remaining)
        events = ledger.query_events(type=type, after_position=position, limit=size, **filters)
        yield from events
        if len(events) < size:
            return
        position = events[-1].position
        if remaining is not None:
            remaining -= len(events)


def iter_usages(ledger: Any, page: int = 1000) -> Iterator[CacheUsage]:
    """Every ``cache.usage`` record of a ledger as the engine's usage, in log order."""
    for event in iter_events(ledger, type=CACHE_USAGE, page=page):
        yield decode_usage(event.payload).usage(event.timestamp, event.run_id)


def _count(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} is not a token count")
    return value


def _field(payload: Mapping[str, Any], started: Mapping[str, Any], name: str) -> str | None:
    return _text(payload.get(name)) or _text(started.get(name))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
