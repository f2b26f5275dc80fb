"""What a shared (fleet-wide) state backend offers the engine, and when the engine calls it.

A snapshot backend (memory, file, kv) is read once and written on flush. A shared backend
is consulted per call, so many engines in many processes act as one:

- ``plan``: one call per plan (``plan_round``) that claims resources, swaps the lineage's
  fingerprint, registers keep-warm and draws the plan number; then ``push`` for writes the
  plan produced (storage spend, a drift report), which are rare.
- ``record``: the usage book returned by ``usage_book`` queues exact increments; ``push``
  sends them.
- ``stats``, ``schedule``, ``mark_refreshed``, ``drifts``, ``invalidate``: one call each.

Every method answers ``None`` (or ``False``) when the backend cannot be reached: the
engine then decides from its local memories, which it keeps in step as a mirror. Events
the backend wants emitted (degraded, restored) are appended to the ``events`` list given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from racs.core.model import CacheStats, DriftReport, RefreshEntry, TelemetryEvent
from racs.core.prices import PriceBook
from racs.planning.drift import Fingerprint
from racs.planning.usage import UsageBook

ResourceAction = Literal["create", "reuse", "refresh"]


@dataclass(frozen=True, slots=True)
class PlanRound:
    """What one plan tells the fleet (computed from the local plan before the round trip)."""

    now: float
    prefix_key: str
    provider: str
    model: str
    lineage: str
    fingerprint: Fingerprint
    resource_ttl: float | None
    """TTL (s) of the plan's resource directive; None when the plan has none."""
    resource_tokens: float
    local_action: ResourceAction | None
    """The action the local memories chose (kept to publish it if the fleet is away)."""
    keepwarm: tuple[str | float, float] | None
    """The shortest TTL (label, seconds) the plan caches with; None: nothing to keep warm."""


@dataclass(frozen=True, slots=True)
class PlanReply:
    """The fleet's answer to one plan."""

    plan_id: str
    previous: Fingerprint | None
    """The lineage's fingerprint before this plan, on whichever host it was planned."""
    resource_action: ResourceAction | None
    """The action this host must take: exactly one host of the fleet gets a create."""
    resource_last_write: float | None
    forget: tuple[tuple[str | None, str | None], ...]
    """``(prefix_key, provider)`` filters invalidated elsewhere since this host last looked."""
    fleet: bool
    """False when the fleet was out of reach: the local decisions stand."""


@runtime_checkable
class SharedState(Protocol):
    """A state backend that many engines use at once (see the module docstring)."""

    is_shared: bool

    def usage_book(
        self, prices: PriceBook, max_keys: int, clock: Callable[[], float] | None = None
    ) -> UsageBook:
        """The engine's usage book: local aggregates that also queue fleet increments."""

    def plan_round(self, request: PlanRound, seed: int, events: list[TelemetryEvent]) -> PlanReply:
        """Claim, swap and count for one plan; a local answer when the fleet is away."""

    def push(self, events: list[TelemetryEvent]) -> None:
        """Send queued writes (usage, storage, drift reports from ``events``)."""

    def stats(
        self,
        prefix_key: str | None,
        provider: str | None,
        model: str | None,
        agent_id: str | None,
        events: list[TelemetryEvent],
    ) -> CacheStats | None:
        """Fleet-wide stats under the filters."""

    def storage_spend(self) -> dict[str, float] | None:
        """Fleet-wide resource storage spend by aggregate key."""

    def due(self, now: float, events: list[TelemetryEvent]) -> list[RefreshEntry] | None:
        """Due keep-warm entries whose touch this host now holds the lease for."""

    def slide(self, prefix_key: str, at: float, now: float, events: list[TelemetryEvent]) -> bool:
        """The host touched the cache at ``at``: slide the fleet's window."""

    def drifts(self, limit: int | None, events: list[TelemetryEvent]) -> list[DriftReport] | None:
        """The fleet's latest drift reports, oldest first."""

    def invalidate(
        self, prefix_key: str | None, provider: str | None, events: list[TelemetryEvent]
    ) -> tuple[set[str], list[tuple[str, float]]] | None:
        """Clear matching prefixes on every host: matched keys, deleted ``(key, ttl)``."""

    def lineage_fields(self, lineage: str) -> dict[str, str] | None:
        """The per-lineage hash (learned cadences and the like), None when unreachable."""

    def update_lineage_fields(self, lineage: str, fields: Mapping[str, str | float]) -> bool:
        """Set fields of the per-lineage hash; False when unreachable."""


def shared_backend(state: Any) -> SharedState | None:
    """The state backend as a shared backend, or None for a snapshot backend."""
    if getattr(state, "is_shared", False) and isinstance(state, SharedState):
        return state
    return None


def drift_of(events: list[TelemetryEvent]) -> list[DriftReport]:
    """The drift reports among ``events``."""
    return [e.report for e in events if e.type == "prefix.drifted"]  # type: ignore[union-attr]
