"""Cache write tiers: how long an entry lives, what a write costs, and their wire names.

The one table every module reads (planner, adapters, usage, ledger, simulators). Wire
names, SQL columns and event payload fields keep their historical spellings; this table
only names them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Tier:
    """One write tier of a breakpoint cache."""

    name: str
    """``5m``, ``30m`` or ``1h``: the TTL label on the wire."""
    seconds: int
    """How long an entry lives after its last write or read."""
    write_multiplier: float
    """The reference price of a write as a multiple of the input price."""
    usage_field: str
    """``CacheUsage`` attribute (and ledger column) holding the tokens written."""
    wire_field: str
    """camelCase usage field on the wire."""
    price_field: str
    """``Pricing`` attribute holding the write price."""
    profile_field: str
    """``ProviderProfile`` attribute holding the write multiplier."""
    within_seconds: int
    """The longest declared reuse interval the planner still trusts this tier to cover
    (engine.md: 240 s for 5m, 3300 s for 1h; a margin for clock skew and latency)."""


def _tier(name: str, seconds: int, multiplier: float, within: int) -> Tier:
    return Tier(
        name=name,
        seconds=seconds,
        write_multiplier=multiplier,
        within_seconds=within,
        usage_field=f"cache_write_tokens_{name}",
        wire_field=f"cacheWriteTokens{name}",
        price_field=f"cache_write_{name}_per_mtok",
        profile_field=f"write_multiplier_{name}",
    )


# Anthropic: 5m writes 1.25x, 1h writes 2x; OpenAI GPT-5.6+ explicit breakpoints: 30m, 1.25x.
TIERS: Final[tuple[Tier, ...]] = (
    _tier("5m", 300, 1.25, 240),
    _tier("30m", 1800, 1.25, 1500),
    _tier("1h", 3600, 2.0, 3300),
)
TIER: Final[dict[str, Tier]] = {t.name: t for t in TIERS}
TIER_NAMES: Final[tuple[str, ...]] = tuple(t.name for t in TIERS)
TTL_SECONDS: Final[dict[str, int]] = {t.name: t.seconds for t in TIERS}
DEFAULT_TIER: Final = "5m"


def seconds_of(name: str, default: int | None = None) -> int:
    """Seconds an entry of tier ``name`` lives; ``default`` (else the 5m tier) when unknown."""
    tier = TIER.get(name)
    if tier is not None:
        return tier.seconds
    return TIER[DEFAULT_TIER].seconds if default is None else default


def known(name: object) -> bool:
    """True when ``name`` is a tier label racs knows."""
    return isinstance(name, str) and name in TIER
