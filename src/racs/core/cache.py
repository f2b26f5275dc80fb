"""The one model of a provider's prompt cache: what a request reads, writes and leaves behind.

Every surface that reasons about a cache asks this module: replay (strategies, the optimum,
calibration), the traffic report's walk, ``racs simulate``, the Mooncake pool and the
learned policy. The facts come from the model's ``ProviderProfile`` (tiers, minimum, step,
retention, storage); where the documentation is silent racs chooses, and the choice is a
field of the provider's record in ``racs.core.facts``, never a constant here.

The rules, per family:

- Breakpoint (Anthropic, Bedrock, Foundry, GPT-5.6+): an entry per written prefix, read
  only as a whole, living its tier's TTL after its last write or read (boundary
  inclusive); a read refreshes it for free. Writes are billed at the tier's price.
- Routing-key (OpenAI before 5.6, xAI, ...): every request above the minimum leaves an
  entry of its prefix in whole steps (OpenAI: 128 tokens), free. A later request reads the
  longest cached prefix it shares, in steps. ``in_memory`` lives ``idle_retention_seconds``
  after its last use and at most ``max_retention_seconds`` after its write; ``24h`` lives
  ``extended_retention_seconds`` after its last use.
- Resource (Gemini): implicit caching leaves a free entry per request that lives
  ``idle_retention_seconds`` idle. An explicit cached content (``explicit-5m``,
  ``explicit-1h``, ... one option per ``resource_ttls``) is created from the whole prefix at
  the input price, bills storage for its whole TTL, and reads do not extend it.
- Passive (DeepSeek, Groq, local runtimes): automatic entries as for routing-key, living
  ``idle_retention_seconds`` idle.

A state is a tuple of live entries ``(tokens, expires_ms, dies_ms, tier)``, shortest first.
An automatic entry serves any prefix of itself: once a request shares less of it than it
holds, it keeps only the shared part (the prompt went on differently), so every new entry
is longer than every live one and the tuple stays sorted by appending.

Settings read what the documentation leaves open: ``NEUTRAL`` takes the documented high end
of a retention range, ``PESSIMISTIC`` its low end, evicts every entry 20% of its TTL early
and makes a deterministic 5% of requests miss the cache (for every strategy alike).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple, Protocol, TypeAlias

from racs.core.model import ProviderProfile
from racs.core.tiers import TIER

_S: Final = 1000.0
"""Milliseconds in a second (profile facts are seconds, the model counts milliseconds)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """Neutral or pessimistic reading of what the documentation leaves open."""

    name: str = "neutral"
    early_eviction: float = 0.0
    """Entries die this fraction of their TTL early."""
    routing_miss: float = 0.0
    """Share of requests that land on a machine without the cache (read nothing)."""
    low_retention: bool = False
    """Take the documented low end of a retention range (OpenAI in-memory: 5 of 5-10 min)."""

    def misses(self, stream: str, index: int) -> bool:
        """Whether request ``index`` of ``stream`` is a routing miss (deterministic)."""
        if self.routing_miss <= 0:
            return False
        return zlib.crc32(f"{stream}\0{index}".encode()) / 2**32 < self.routing_miss


NEUTRAL: Final = Setting()
PESSIMISTIC: Final = Setting(
    "pessimistic", early_eviction=0.2, routing_miss=0.05, low_retention=True
)
SETTINGS: Final = {"neutral": NEUTRAL, "pessimistic": PESSIMISTIC}


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
    partial: bool = False
    """The entry serves any prefix of itself, in steps (automatic caches)."""
    sure_ms: float | None = None
    """The documented low end of ``ttl_ms`` where the documentation gives a range: a miss
    after this much idle time is an expiry the documentation allows."""


@dataclass(frozen=True, slots=True)
class CacheRules:
    """One model's cache as the model simulates it."""

    family: str
    min_tokens: int
    step: int
    """Entries cover whole steps of this many tokens (OpenAI: 128)."""
    options: tuple[str, ...]
    """Decision tiers offered, besides ``None``."""
    auto: str | None
    """Tier every request writes by itself when it makes no choice (automatic families)."""
    tiers: dict[str, TierRule]
    partial: bool = field(init=False)
    """Some tier's entries serve any prefix of themselves (an automatic cache)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "partial", any(r.partial for r in self.tiers.values()))

    def rule(self, tier: str | None) -> TierRule | None:
        """The rule of a decision tier (``None``: the automatic tier, if any)."""
        name = self.auto if tier is None else tier
        return None if name is None else self.tiers.get(name)

    def cacheable(self, tokens: int) -> int:
        """The part of a prefix an entry can cover (whole steps, at least the minimum)."""
        covered = tokens // self.step * self.step if self.step > 1 else tokens
        return covered if covered >= self.min_tokens and covered > 0 else 0

    @property
    def resource_ttls(self) -> dict[str, float]:
        """Explicit cached-content options and their lifetimes in seconds (Gemini)."""
        return {n: r.ttl_ms / _S for n, r in self.tiers.items() if r.whole_prefix}


def duration_label(seconds: float) -> str:
    """``300`` -> ``5m``, ``3600`` -> ``1h``, ``86400`` -> ``24h``, ``45`` -> ``45s``."""
    s = int(seconds)
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def _seconds(value: float | None, fallback: float) -> float:
    return float(value) if value is not None else fallback


def rules_for(profile: ProviderProfile, setting: Setting = NEUTRAL) -> CacheRules:
    """The cache rules of a (per-model) provider profile under a setting."""
    keep = 1.0 - setting.early_eviction
    family = profile.family
    minimum = profile.min_cacheable_tokens or 0
    step = profile.step_tokens or 1
    if family == "breakpoint":
        # A marker's entry is the exact prefix up to it: no steps (GPT-5.6's explicit
        # breakpoints included, though its automatic caching counts in 128-token steps).
        step = 1
        billed = profile.bills_writes is not False
        tiers = {
            name: TierRule(name, TIER[name].seconds * _S * keep, billed_as=name if billed else None)
            for name in profile.ttls or ("5m",)
            if name in TIER
        }
        return CacheRules(family, minimum, step, tuple(tiers), None, tiers)
    idle_high = _seconds(profile.idle_retention_seconds, 0.0)
    idle_low = _seconds(profile.idle_retention_min_seconds, idle_high)
    idle = idle_low if setting.low_retention else idle_high
    sure = idle_low * _S * keep if idle_low < idle else None
    if family == "routing-key":
        offered = profile.retention_options or ("in_memory",)
        tiers = {}
        if "in_memory" in offered:
            longest = profile.max_retention_seconds
            tiers["in_memory"] = TierRule(
                "in_memory",
                idle * _S * keep,
                max_life_ms=None if longest is None else longest * _S * keep,
                partial=True,
                sure_ms=sure,
            )
        if "24h" in offered and profile.extended_retention_seconds is not None:
            tiers["24h"] = TierRule(
                "24h", profile.extended_retention_seconds * _S * keep, partial=True
            )
        return CacheRules(family, minimum, step, tuple(tiers), next(iter(tiers), None), tiers)
    if family == "resource":
        tiers = {"implicit": TierRule("implicit", idle * _S * keep, partial=True, sure_ms=sure)}
        for seconds in profile.resource_ttls or ():
            name = f"explicit-{duration_label(seconds)}"
            tiers[name] = TierRule(
                name, seconds * _S * keep, False, whole_prefix=True, storage=True
            )
        return CacheRules(family, minimum, step, tuple(tiers), "implicit", tiers)
    tiers = {"auto": TierRule("auto", idle * _S * keep, partial=True, sure_ms=sure)}
    return CacheRules("passive", minimum, step, ("auto",), "auto", tiers)


def explicit_rule(seconds: float, setting: Setting = NEUTRAL) -> TierRule:
    """The rule of an explicit cached content living ``seconds`` (Gemini ``ttl``)."""
    keep = 1.0 - setting.early_eviction
    name = f"explicit-{duration_label(seconds)}"
    return TierRule(name, seconds * _S * keep, False, whole_prefix=True, storage=True)


def with_explicit(rules: CacheRules, seconds: float, setting: Setting = NEUTRAL) -> CacheRules:
    """``rules`` offering an explicit cached content of any lifetime (a plan's own TTL)."""
    rule = explicit_rule(seconds, setting)
    if rule.name in rules.tiers:
        return rules
    tiers = {**rules.tiers, rule.name: rule}
    return CacheRules(
        rules.family, rules.min_tokens, rules.step, (*rules.options, rule.name), rules.auto, tiers
    )


# --- transitions ----------------------------------------------------------------------

Entry: TypeAlias = tuple[int, float, float, str]
State: TypeAlias = tuple[Entry, ...]
EMPTY: State = ()


class Ask(Protocol):
    """What a request tells the cache: when, how long its prefix, how much it shares."""

    @property
    def t_ms(self) -> float: ...
    @property
    def prefix(self) -> int: ...
    @property
    def shared(self) -> int:
        """Tokens shared with the previous request of the stream."""
        ...

    @property
    def external(self) -> int:
        """A read offered from a cache outside the stream, this request only."""
        ...

    @property
    def miss(self) -> bool:
        """A routing miss: nothing is read."""
        ...


class Served(NamedTuple):
    """What one request read and wrote."""

    read: int
    written: int
    rule: TierRule | None
    """The rule of the write (``None``: nothing written)."""


def readable(state: State, t: float, shared: int, rules: CacheRules) -> list[Entry]:
    """The entries a request at ``t`` sharing ``shared`` tokens can read, shortest first.

    An automatic entry longer than the shared part is cut to it (in whole steps); an
    exact entry longer than that cannot be read at all.
    """
    if not rules.partial:
        return [e for e in state if e[0] <= shared and t <= e[1] and t <= e[2]]
    tiers = rules.tiers
    live: list[Entry] = []
    for e in state:
        if t > e[1] or t > e[2]:
            continue
        if e[0] <= shared:
            live.append(e)
        elif tiers[e[3]].partial:
            cut = rules.cacheable(shared)
            if not cut:
                continue
            if live and live[-1][0] >= cut:
                # Two entries now cover the same prefix: the one that lives longer stays.
                if min(live[-1][1], live[-1][2]) >= min(e[1], e[2]):
                    continue
                live.pop()
            live.append((cut, e[1], e[2], e[3]))
    return live


def serve(state: State, step: Ask, tier: str | None, rules: CacheRules) -> tuple[State, Served]:
    """Apply one request with a decision tier; returns the new state and what it did."""
    t = step.t_ms
    live = readable(state, t, step.shared, rules)
    top_i = len(live) - 1 if live and not step.miss else -1
    read = live[top_i][0] if top_i >= 0 else 0
    external = 0 if step.miss else step.external
    if external > read:
        read, top_i = external, -1
    rule = rules.rule(tier)
    written = 0
    target = 0
    if rule is not None:
        target = rules.cacheable(step.prefix)
        if target > read:
            if rule.whole_prefix:
                read, top_i = 0, -1
                written = target
            else:
                written = target - read
    if top_i >= 0:
        tokens, _, dies, name = live[top_i]
        top_rule = rules.tiers[name]
        if top_rule.refresh_on_read:
            live[top_i] = (tokens, min(t + top_rule.ttl_ms, dies), dies, name)
    if written and rule is not None:
        dies = t + rule.max_life_ms if rule.max_life_ms is not None else math.inf
        live.append((target, min(t + rule.ttl_ms, dies), dies, rule.name))
        return tuple(live), Served(read, written, rule)
    return tuple(live), Served(read, 0, None)


def warm(
    state: State, rules: CacheRules, until_ms: float, limit_ms: float
) -> tuple[State, int, int]:
    """Keep the longest entry alive with read-only touches at its expiry, each before
    ``until_ms`` (the next request) and no later than ``limit_ms``.

    Returns the new state, the number of touches and the tokens each touch reads.
    """
    if not state:
        return state, 0, 0
    tokens, expires, dies, name = state[-1]
    rule = rules.tiers[name]
    bound = min(limit_ms, dies)
    if not rule.refresh_on_read or expires >= until_ms or expires > bound:
        return state, 0, 0
    ttl = rule.ttl_ms
    n = math.ceil((until_ms - expires) / ttl)
    if math.isfinite(bound):
        n = min(n, math.floor((bound - expires) / ttl) + 1)
    if n <= 0:
        return state, 0, 0
    touched = (tokens, min(expires + n * ttl, dies), dies, name)
    return (*state[:-1], touched), n, tokens


def extend(state: State, t: float, rules: CacheRules, tier: str) -> tuple[State, int]:
    """Renew the live entry of ``tier`` for its whole TTL from ``t`` without reading it
    (Gemini's ``caches.update``); returns the new state and the tokens it holds (0: none
    alive, nothing renewed)."""
    rule = rules.tiers[tier]
    for i in range(len(state) - 1, -1, -1):
        tokens, expires, dies, name = state[i]
        if name == tier and t <= expires and t <= dies:
            renewed = (tokens, min(t + rule.ttl_ms, dies), dies, name)
            return (*state[:i], renewed, *state[i + 1 :]), tokens
    return state, 0


class Cuts(Protocol):
    """Where a stream's prompt is cut back later on (hindsight, for ``prune``)."""

    def intact(self, after: int, until_ms: float, low: int, high: int) -> bool:
        """True when no request after ``after`` up to ``until_ms`` cuts the prompt to a
        length in ``[low, high)``."""
        ...


def prune(state: State, index: int, horizon: Cuts) -> State:
    """Drop entries that can never be read again.

    An entry below a longer one is read only when the longer one is unreadable; if the
    longer one outlives it and no cut before then keeps the shorter while losing the
    longer (``horizon``, hindsight), the shorter entry dies unread.
    """
    if len(state) < 2:
        return state
    kept: list[Entry] = []
    last = len(state) - 1
    for i, entry in enumerate(state):
        if i < last:
            death = min(entry[1], entry[2])
            low = entry[0]
            if any(
                min(above[1], above[2]) >= death and horizon.intact(index, death, low, above[0])
                for above in state[i + 1 :]
            ):
                continue
        kept.append(entry)
    return tuple(kept) if len(kept) != len(state) else state


def cached_after(read: float, writes: float, input_tokens: float, rules: CacheRules) -> int:
    """The prefix a request leaves cached, from its usage alone: what it read and wrote,
    or (an automatic cache, whose writes go unreported) its whole prompt in steps."""
    cached = int(read + writes)
    if rules.auto is not None:
        cached = max(cached, rules.cacheable(int(input_tokens)))
    return cached


# --- why a request did not read what was cached --------------------------------------

COLD_START: Final = "cold_start"
MODEL_SWITCH: Final = "model_switch"
EXPIRY: Final = "expiry"
COMPACTION: Final = "compaction"
DRIFT: Final = "drift"
BELOW_MINIMUM: Final = "below_minimum"
UNEXPLAINED: Final = "unexplained_miss"
EXTERNAL: Final = "external"
LATE_READ: Final = "late_read"

Liveness: TypeAlias = Literal["alive", "maybe", "dead", "none"]
"""What the model says of the stream's entry at a request: alive, alive only if the
provider kept it as long as documented at most (``maybe``), dead, or never written."""


def liveness(state: State, t: float, rules: CacheRules) -> Liveness:
    """The liveness at ``t`` of the stream's entry: the longest one, its whole prefix."""
    if not state:
        return "none"
    _, expires, dies, name = state[-1]
    return entry_liveness(rules.tiers[name], expires, dies, t)


def entry_liveness(rule: TierRule, expires_ms: float, dies_ms: float, t: float) -> Liveness:
    """An entry's liveness at ``t``, from when it expires unless read and when it dies."""
    if t > expires_ms or t > dies_ms:
        return "dead"
    if rule.sure_ms is not None and rule.refresh_on_read:
        last_use = expires_ms - rule.ttl_ms
        if t > last_use + rule.sure_ms:
            return "maybe"
    return "alive"


def lifetime(rule: TierRule, last_use_ms: float, written_ms: float) -> tuple[float, float]:
    """``(expires_ms, dies_ms)`` of an entry of ``rule`` last used and written then."""
    dies = written_ms + rule.max_life_ms if rule.max_life_ms is not None else math.inf
    start = last_use_ms if rule.refresh_on_read else written_ms
    return min(start + rule.ttl_ms, dies), dies


def miss_cause(
    *,
    first: bool,
    model_switch: bool,
    below_minimum: bool,
    entry: Liveness,
    shrank: bool,
    drifted: bool,
) -> str:
    """Why a request paid write or fresh prices for a prefix its stream had cached.

    One order for every surface: a prompt under the minimum cannot cache; a stream's first
    request (or its first on a new model) had nothing to read; an entry the model says had
    expired; a prompt that shrank (compaction, rewrite); a block that changed inside the
    prefix; an entry only the documentation's shortest retention had let expire; else the
    miss is unexplained.
    """
    if below_minimum:
        return BELOW_MINIMUM
    if first:
        return MODEL_SWITCH if model_switch else COLD_START
    if entry in ("dead", "none"):
        return EXPIRY
    if shrank:
        return COMPACTION
    if drifted:
        return DRIFT
    if entry == "maybe":
        return EXPIRY
    return UNEXPLAINED
