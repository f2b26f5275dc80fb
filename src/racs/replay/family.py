"""Each provider family's cache rules as replay applies them, neutral and pessimistic.

Documented facts come from ``../shared/spec/providers.md`` through the provider profile
(minimum, tiers, retention options). Where the documentation is silent racs chooses, and
names the choice here (the README repeats the table):

- Breakpoint (Anthropic, Bedrock, Foundry, GPT-5.6+): an entry per written prefix, living
  its tier's TTL after its last write or read (boundary inclusive); a read refreshes it.
  "No write" still reads a live entry (a marker placed at the old entry's end).
- Routing-key (OpenAI before 5.6, xAI, ...): every request above the minimum leaves an
  entry of its prefix in 128-token steps, free. ``in_memory`` lives 10 minutes idle
  (documented 5-10; the pessimistic setting takes 5) and at most an hour after its write;
  ``24h`` lives a day from its last use.
- Resource (Gemini): implicit caching leaves a free entry per request that lives 5 minutes
  idle (undocumented). An explicit cached content (``explicit-5m``/``explicit-1h``) is
  created from the whole prefix at the input price, bills storage for its full TTL, and
  reads do not extend it.
- Passive (DeepSeek, Groq, ...): automatic entries, free, living an hour idle (Groq: two).

The pessimistic setting evicts every entry early by ``early_eviction`` of its TTL and makes
a deterministic ``routing_miss`` share of requests read nothing, for every strategy alike.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Final

from racs.core.model import ProviderProfile
from racs.core.tiers import TIER

_MIN: Final = 60_000.0


@dataclass(frozen=True, slots=True)
class TierRule:
    """How entries written with one decision tier live and bill."""

    name: str
    ttl_ms: float
    """Lifetime after the last write (or read, when reads refresh)."""
    refresh_on_read: bool = True
    max_life_ms: float | None = None
    """Hard limit after the write whatever the reads (OpenAI in-memory: an hour)."""
    billed_as: str | None = None
    """Accounting write tier (``5m``/``30m``/``1h``) the written tokens bill as; ``None``:
    the written tokens bill as fresh input (free writes)."""
    whole_prefix: bool = False
    """A write sends the whole prefix again (Gemini cached contents), reading nothing."""
    storage: bool = False
    """Storage is billed per token-hour for the whole TTL."""


@dataclass(frozen=True, slots=True)
class Setting:
    """Neutral or pessimistic reading of what the documentation leaves open."""

    name: str = "neutral"
    early_eviction: float = 0.0
    """Entries die this fraction of their TTL early."""
    routing_miss: float = 0.0
    """Share of requests that land on a machine without the cache (read nothing)."""

    def misses(self, stream: str, index: int) -> bool:
        """Whether request ``index`` of ``stream`` is a routing miss (deterministic)."""
        if self.routing_miss <= 0:
            return False
        return zlib.crc32(f"{stream}\0{index}".encode()) / 2**32 < self.routing_miss


NEUTRAL: Final = Setting()
PESSIMISTIC: Final = Setting("pessimistic", early_eviction=0.2, routing_miss=0.05)
SETTINGS: Final = {"neutral": NEUTRAL, "pessimistic": PESSIMISTIC}


@dataclass(frozen=True, slots=True)
class CacheRules:
    """One model's cache as replay simulates it."""

    family: str
    min_tokens: int
    step: int
    """Entries cover whole steps of this many tokens (OpenAI: 128)."""
    options: tuple[str, ...]
    """Decision tiers offered, besides ``None``."""
    auto: str | None
    """Tier every request writes by itself when it makes no choice (automatic families)."""
    tiers: dict[str, TierRule]

    def rule(self, tier: str | None) -> TierRule | None:
        """The rule of a decision tier (``None``: the automatic tier, if any)."""
        name = self.auto if tier is None else tier
        return None if name is None else self.tiers.get(name)

    def cacheable(self, tokens: int) -> int:
        """The part of a prefix an entry can cover (whole steps, at least the minimum)."""
        covered = tokens // self.step * self.step if self.step > 1 else tokens
        return covered if covered >= self.min_tokens and covered > 0 else 0


def _passive_idle_ms(provider: str) -> float:
    return 120 * _MIN if provider == "groq" else 60 * _MIN


def rules_for(profile: ProviderProfile, setting: Setting = NEUTRAL) -> CacheRules:
    """The cache rules of a provider profile under a setting."""
    keep = 1.0 - setting.early_eviction
    family = profile.family
    minimum = profile.min_cacheable_tokens or 0
    if family == "breakpoint":
        tiers = {
            name: TierRule(name, TIER[name].seconds * 1000 * keep, billed_as=name)
            for name in profile.ttls or ()
            if name in TIER
        }
        return CacheRules(family, minimum, 1, tuple(tiers), None, tiers)
    if family == "routing-key":
        idle = (5 if setting.early_eviction else 10) * _MIN * keep
        tiers = {"in_memory": TierRule("in_memory", idle, max_life_ms=60 * _MIN * keep)}
        if "24h" in (profile.retention_options or ()):
            tiers["24h"] = TierRule("24h", 24 * 60 * _MIN * keep)
        return CacheRules(family, minimum, 128, tuple(tiers), "in_memory", tiers)
    if family == "resource":
        tiers = {
            "implicit": TierRule("implicit", 5 * _MIN * keep),
            "explicit-5m": TierRule(
                "explicit-5m", 5 * _MIN * keep, False, whole_prefix=True, storage=True
            ),
            "explicit-1h": TierRule(
                "explicit-1h", 60 * _MIN * keep, False, whole_prefix=True, storage=True
            ),
        }
        return CacheRules(family, minimum, 1, tuple(tiers), "implicit", tiers)
    step = 64 if profile.id == "deepseek" else 1
    tiers = {"auto": TierRule("auto", _passive_idle_ms(profile.id) * keep)}
    return CacheRules("passive", minimum, step, ("auto",), "auto", tiers)


def with_setting(rules: CacheRules, setting: Setting) -> CacheRules:
    """``rules`` with every TTL shortened by the setting's early eviction."""
    keep = 1.0 - setting.early_eviction
    tiers = {
        name: replace(
            t,
            ttl_ms=t.ttl_ms * keep,
            max_life_ms=None if t.max_life_ms is None else t.max_life_ms * keep,
        )
        for name, t in rules.tiers.items()
    }
    return replace(rules, tiers=tiers)
