"""Follow each stream's cache from usage alone: what it held, what each request missed.

Per (stream, model) the walk keeps the prefix the last request left cached (its reads plus
its writes) and follows the cache through the one cache model (``racs.replay.reconstruct
.Follower`` over ``racs.core.cache``), as replay's calibration does. A request that pays
write or fresh prices for more than its new suffix (its input beyond that cached prefix)
gets a cause from ``racs.core.cache.miss_cause``: below the model's minimum, cold start,
model switch, expiry, compaction or rewrite (the prompt shrank), drift (a known block
changed inside the prefix) or an unexplained miss. Memory: a few numbers per stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Final

from racs.core.accounting import Rates, Tokens, cost_of
from racs.core.cache import (
    CacheRules,
    Liveness,
    cached_after,
    miss_cause,
    rules_for,
)
from racs.core.model import ProviderProfile
from racs.core.text import duration, usd
from racs.core.tiers import TIER
from racs.replay.reconstruct import Follower
from racs.report.findings import (
    ACTIONS,
    BELOW_MINIMUM,
    COLD_START,
    COMPACTION,
    DRIFT,
    EXPIRY,
    MODEL_SWITCH,
    TIER_CHOICE,
    UNCACHED,
    UNEXPLAINED,
    Finding,
    action_of,
    detail_of,
    excess_usd,
)
from racs.traffic.model import Block, Request

GAP_EDGES_S: Final = (30, 60, 120, 300, 600, 1800, 3600, 7200)
"""Upper edges of the gap histogram's bins (seconds); the last bin is open."""

ProfileOf = Callable[[str, str], ProviderProfile | None]


@dataclass(slots=True)
class _Entry:
    """The cache one (stream, model) holds after its last request."""

    last_ms: float
    cached: float
    input: float
    ttl: str
    blocks: tuple[Block, ...] | None
    pending: Request | None
    """The last request whose writes still wait to be read back."""
    follower: Follower | None
    """The stream's cache in the cache model (``None``: a provider racs has no profile for)."""


@dataclass(slots=True)
class _TierLedger:
    """What 1h writes cost over 5m ones, and what 5m would have lost in longer gaps."""

    model: str
    request: Request
    premium_usd: float = 0.0
    rewrite_usd: float = 0.0
    writes_1h: float = 0.0
    long_gaps: int = 0
    max_gap_s: float = 0.0


@dataclass(slots=True)
class _Plain:
    """What a stream that may never read its cache paid for the prefix it repeats."""

    request: Request
    requests: int = 0
    last_ms: float = 0.0
    near: bool = False
    """A request came within the shortest TTL of the previous one: a cache would have
    been warm, whatever the tier."""
    read: float = 0.0
    min_input: float = float("inf")
    lost_usd: float = 0.0
    """Its prompts' shared part (up to the smallest prompt) at what was paid over reading."""
    found_usd: float = 0.0
    """What the stream's own findings already priced (not counted twice)."""
    excess: float = 0.0
    """Tokens of the repeated prefix paid again by requests within reach of a cache (the
    longest TTL after the previous request)."""
    priced: bool = True


@dataclass(slots=True)
class Gaps:
    """Histogram of gaps between a stream's consecutive requests (same model)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(GAP_EDGES_S) + 1))
    tokens: list[float] = field(default_factory=lambda: [0.0] * (len(GAP_EDGES_S) + 1))

    def add(self, seconds: float, cached: float) -> None:
        """Count one gap and the cached tokens it put at risk."""
        i = next((k for k, edge in enumerate(GAP_EDGES_S) if seconds <= edge), len(GAP_EDGES_S))
        self.counts[i] += 1
        self.tokens[i] += cached


@dataclass(slots=True)
class Step:
    """What one request taught: a finding, and whose writes it read back."""

    finding: Finding | None = None
    read_back: tuple[Request, float] | None = None


class Walker:
    """Feeds requests in time order per stream; yields findings and read-backs."""

    def __init__(self, profile_of: ProfileOf) -> None:
        self._profile_of = profile_of
        self._rules: dict[tuple[str, str], CacheRules | None] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._last_model: dict[str, str] = {}
        self._tiers: dict[tuple[str, str], _TierLedger] = {}
        self._plain: dict[tuple[str, str], _Plain] = {}
        self._ttl_bounds: dict[tuple[str, str], tuple[float, float]] = {}
        self.gaps = Gaps()

    def rules(self, provider: str, model: str) -> CacheRules | None:
        """The cache model's rules for a model (``None``: no profile for its provider)."""
        key = (provider, model)
        if key not in self._rules:
            profile = self._profile_of(provider, model)
            self._rules[key] = rules_for(profile) if profile is not None else None
        return self._rules[key]

    def step(self, r: Request, rates: Rates | None) -> Step:
        """Account one request of its stream (requests of a stream arrive in time order)
        priced at ``rates`` (``None``: unpriced)."""
        key = (r.stream, r.model)
        e = self._entries.get(key)
        before = self._last_model.get(r.stream)
        out = Step()
        follower = e.follower if e is not None else None
        if follower is None:
            rules = self.rules(r.provider, r.model)
            follower = Follower(rules) if rules is not None else None
        rules = follower.rules if follower is not None else None
        # A log a little out of order (batching exporters) counts as no gap, not a negative one.
        gap_s = max(0.0, r.timestamp_ms - e.last_ms) / 1000 if e is not None else None
        # The cache model's word on the stream's entry, as replay's calibration has it.
        entry: Liveness = follower.liveness(r.timestamp_ms) if follower is not None else "none"
        if e is not None and gap_s is not None:
            self.gaps.add(gap_s, e.cached)
            self._tier_gap(key, e, gap_s, rates)
            if e.pending is not None and entry in ("alive", "maybe"):
                start = e.pending.tokens.read
                back = min(max(0.0, r.tokens.read - start), e.pending.tokens.writes)
                out.read_back = (e.pending, back)
        out.finding = self._classify(r, e, before, gap_s, rates, entry, rules)
        self._plain_step(key, r, rates, out.finding)
        if follower is not None:
            follower.step(r, None)
        t = r.tokens
        ttl = e.ttl if e is not None else "5m"
        for tier in ("1h", "30m", "5m"):
            if t.write(tier) > 0:
                ttl = tier
                break
        if t.write_1h > 0 and rates is not None:
            ledger = self._tiers.setdefault(key, _TierLedger(r.model, r))
            ledger.writes_1h += t.write_1h
            ledger.premium_usd += _difference(
                Tokens(write_1h=t.write_1h), Tokens(write_5m=t.write_1h), rates
            )
        if rules is not None:
            cached = float(cached_after(t.read, t.writes, t.input, rules))
        else:
            cached = t.read + t.writes
        self._entries[key] = _Entry(
            last_ms=r.timestamp_ms,
            cached=cached if cached > 0 else (e.cached if e is not None else 0.0),
            input=t.input,
            ttl=ttl,
            blocks=r.blocks,
            pending=r if t.writes > 0 else None,
            follower=follower,
        )
        self._last_model[r.stream] = r.model
        return out

    def _plain_step(
        self, key: tuple[str, str], r: Request, rates: Rates | None, found: Finding | None
    ) -> None:
        p = self._plain.get(key)
        if p is None:
            p = self._plain[key] = _Plain(r)
        elif p.read > 0:
            return  # the stream reads its cache: nothing more to follow here
        t = r.tokens
        p.requests += 1
        p.read += t.read
        if p.read > 0:
            return
        shortest, longest = self._ttls(r.provider, r.model)
        since = r.timestamp_ms - p.last_ms
        if p.requests > 1 and since <= shortest:
            p.near = True
        if p.requests > 1 and since <= longest:
            shared = min(p.min_input, t.input)
            lost = excess_usd(t, shared, rates)
            if lost is None:
                p.priced = False
            else:
                p.lost_usd += lost
            p.excess += shared
        p.min_input = min(p.min_input, t.input)
        p.last_ms = r.timestamp_ms
        if found is not None and found.usd is not None:
            p.found_usd += found.usd

    def _ttls(self, provider: str, model: str) -> tuple[float, float]:
        """The shortest and longest an entry of this model lives idle, in ms (5m and 1h
        where racs has no rules for it)."""
        key = (provider, model)
        got = self._ttl_bounds.get(key)
        if got is None:
            rules = self.rules(provider, model)
            if rules is None or not rules.tiers:
                got = (TIER["5m"].seconds * 1000.0, TIER["1h"].seconds * 1000.0)
            else:
                lives = [rule.ttl_ms for rule in rules.tiers.values()]
                got = (min(lives), max(lives))
            self._ttl_bounds[key] = got
        return got

    def uncached_findings(self) -> list[tuple[Finding, float]]:
        """Streams that never read although a request came within a cache's lifetime of the
        previous one: their repeated prefix (up to the smallest prompt) paid at write or
        fresh prices each time. Each with the part of its dollars no other finding of the
        stream holds (what the causes' totals count)."""
        found = []
        for (_, model), p in self._plain.items():
            if p.read > 0 or not p.near or p.excess < 1:
                continue
            rules = self.rules(p.request.provider, model)
            if rules is not None and p.min_input < rules.min_tokens:
                continue  # too small to cache at all: below_minimum says so
            lost = p.lost_usd if p.priced else None
            detail = (
                f"{p.requests} requests never read the cache: if their first "
                f"{int(p.min_input):,} tokens (the smallest prompt) repeat, paying for them "
                f"cost {usd(lost)} more than reading them"
                + (f" ({usd(p.found_usd)} in the stream's other findings)" if p.found_usd else "")
            )
            f = Finding(UNCACHED, lost, int(p.excess), p.request, detail, ACTIONS[UNCACHED])
            found.append((f, max(0.0, p.lost_usd - p.found_usd)))
        return found

    def _tier_gap(self, key: tuple[str, str], e: _Entry, gap_s: float, rates: Rates | None) -> None:
        ledger = self._tiers.get(key)
        if ledger is None or e.ttl != "1h":
            return
        ledger.max_gap_s = max(ledger.max_gap_s, gap_s)
        if TIER["5m"].seconds < gap_s <= TIER["1h"].seconds and rates is not None:
            # A 5m entry would have expired here: the prefix is written again at 5m.
            ledger.long_gaps += 1
            ledger.rewrite_usd += _difference(
                Tokens(write_5m=e.cached), Tokens(read=e.cached), rates
            )

    def tier_findings(self) -> list[Finding]:
        """Streams whose 1h writes cost more than 5m writes plus the misses 5m would add."""
        found = []
        for ledger in self._tiers.values():
            net = ledger.premium_usd - ledger.rewrite_usd
            if net <= 0:
                continue
            detail = (
                f"{int(ledger.writes_1h):,} tokens written at 1h; longest gap "
                f"{duration(ledger.max_gap_s)}, {ledger.long_gaps} over 5m: 5m writes "
                f"save {usd(ledger.premium_usd)} and would re-write {usd(ledger.rewrite_usd)}"
            )
            action = (
                ACTIONS[TIER_CHOICE]
                if ledger.long_gaps == 0
                else f"write at the 5m tier: {ledger.long_gaps} of the stream's gaps exceed "
                f"five minutes; 5m writes plus the re-writes after them cost {usd(net)} less"
            )
            found.append(
                Finding(TIER_CHOICE, net, int(ledger.writes_1h), ledger.request, detail, action)
            )
        return found

    def _classify(
        self,
        r: Request,
        e: _Entry | None,
        before: str | None,
        gap_s: float | None,
        rates: Rates | None,
        entry: Liveness,
        rules: CacheRules | None,
    ) -> Finding | None:
        t = r.tokens
        minimum = rules.min_tokens if rules is not None else None
        below = bool(t.read == 0 and t.writes == 0 and minimum and t.input < minimum)
        if e is None or below:
            cause = miss_cause(
                first=True,
                model_switch=before is not None and before != r.model,
                below_minimum=below,
                entry=entry,
                shrank=False,
                drifted=False,
            )
            if cause == BELOW_MINIMUM:
                if t.fresh <= 0:
                    return None
                return self._finding(cause, r, t.fresh, rates, gap_s, minimum=minimum)
            if cause == MODEL_SWITCH:
                prior = self._entries.get((r.stream, before)) if before is not None else None
                available = prior.cached if prior is not None else 0.0
                excess = self._excess(r, available)
                return self._finding(cause, r, excess, rates, gap_s, before=before, after=r.model)
            return self._finding(COLD_START, r, t.writes, rates, gap_s)
        excess = self._excess(r, e.cached)
        if excess <= 0:
            return None
        changed = (
            _first_change(r.blocks, e.blocks, e.cached)
            if r.blocks is not None and e.blocks is not None
            else None
        )
        cause = miss_cause(
            first=False,
            model_switch=False,
            below_minimum=False,
            entry=entry,
            shrank=t.input < e.input,
            drifted=changed is not None,
        )
        retention = _retention(rules, e.ttl)
        if cause == EXPIRY:
            found = self._finding(
                EXPIRY,
                r,
                excess,
                rates,
                gap_s,
                ttl=e.ttl,
                retention=retention,
                cached=e.cached,
                longer=_longer_tier(rules, e.ttl, gap_s),
                extended="24h" in rules.options if rules is not None else False,
            )
            longest = self._ttls(r.provider, r.model)[1]
            if found is not None and gap_s is not None and gap_s * 1000 > longest:
                # No tier the provider offers outlives this pause: nothing would have kept it.
                return replace(found, unavoidable=True)
            return found
        if cause == COMPACTION:
            return self._finding(COMPACTION, r, excess, rates, gap_s, before=e.input, after=t.input)
        if cause == DRIFT:
            return self._finding(DRIFT, r, excess, rates, gap_s, block=changed)
        return self._finding(
            UNEXPLAINED, r, excess, rates, gap_s, read=t.read, cached=e.cached, ttl=retention
        )

    @staticmethod
    def _excess(r: Request, available: float) -> float:
        """Tokens paid at write or fresh prices beyond the new suffix."""
        t = r.tokens
        suffix = max(0.0, t.input - available)
        return max(0.0, t.fresh + t.writes - suffix)

    @staticmethod
    def _finding(
        cause: str,
        r: Request,
        excess: float,
        rates: Rates | None,
        gap_s: float | None,
        **facts: object,
    ) -> Finding | None:
        if excess < 1:
            return None
        usd = excess_usd(r.tokens, excess, rates)
        return Finding(
            cause=cause,
            usd=usd,
            excess_tokens=int(excess),
            request=r,
            detail=detail_of(cause, excess=excess, gap_s=gap_s, **facts),
            action=action_of(cause, r, usd, rates, gap_s=gap_s, **facts),
        )


def _difference(paid: Tokens, instead: Tokens, rates: Rates) -> float:
    """What ``paid`` cost over ``instead`` at ``rates`` (a difference of two ``cost_of``)."""
    return cost_of(paid, rates).total - cost_of(instead, rates).total


def _retention(rules: CacheRules | None, ttl: str) -> str:
    """How long the stream's entry was to live, as the cache model says (for details)."""
    if rules is None or rules.family == "breakpoint":
        return f"TTL {ttl}"
    rule = rules.rule(None)
    if rule is None:
        return f"TTL {ttl}"
    name = rule.name.replace("_", "-")
    high = duration(rule.ttl_ms / 1000)
    if rule.sure_ms is not None:
        return f"{name} retention {duration(rule.sure_ms / 1000)} to {high}"
    return f"{name} retention {high}"


def _longer_tier(rules: CacheRules | None, ttl: str, gap_s: float | None) -> str | None:
    """The shortest tier the model offers that would have outlived the gap, if any."""
    if rules is None or gap_s is None or rules.family != "breakpoint":
        return None
    longer = [n for n in rules.options if n in TIER and TIER[n].seconds >= gap_s]
    return min(longer, key=lambda n: TIER[n].seconds) if longer else None


def _first_change(now: tuple[Block, ...], before: tuple[Block, ...], cached: float) -> int | None:
    """Index of the first block that differs within the first ``cached`` tokens."""
    position = 0.0
    for i, (a, b) in enumerate(zip(now, before, strict=False)):
        if position >= cached:
            return None
        if a.digest != b.digest:
            return i
        position += b.tokens
    return None
