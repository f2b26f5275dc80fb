"""Streams of steps from traffic, and the calibration that checks them against the bill.

Usage-only traffic (Claude Code) has no prompt text. Each request's cacheable prefix is
its reads plus its writes, taken as an extension of the previous request of the same
model in the same stream. Replaying the recorded choices through the cache model
(``racs.core.cache``) then predicts each request's read; where the bill disagrees the
request is named with the cause the traffic report gives the same request
(``racs.core.cache.miss_cause``):

- it read less than a live entry it extends: ``compaction`` (the prompt shrank), ``drift``
  (a block of known structure changed), ``expiry`` (only the documented shortest retention
  had let it expire: OpenAI's 5 of 5-10 minutes) or ``unexplained_miss``; it shares only
  what it read;
- it read more than the stream's own history explains: ``external`` (the shared system
  prompt kept warm by another session, a compaction call's summary cache) or ``late_read``
  (an entry the model had let expire).

In every case the reconstruction gives the observed read to every strategy alike: the
shared length is cut to the read, and a read beyond the stream's own entries is offered
as an external read of that step. Requests with known structure (``blocks``) share the
common leading blocks instead, and their prefix ends at their last marker. Writes of an
automatic cache are free and unreported, so only billed writes are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from racs.core.accounting import Rates
from racs.core.cache import (
    COMPACTION,
    DRIFT,
    EMPTY,
    EXTERNAL,
    LATE_READ,
    CacheRules,
    Liveness,
    State,
    cached_after,
    liveness,
    miss_cause,
    readable,
    serve,
)
from racs.replay.steps import Step
from racs.replay.strategies import Decision
from racs.traffic.model import Block, Request

RatesOf = Callable[[Request], Rates | None]
_EXPIRED_MEMORY = 64
"""Recent expiries kept to recognise a late read (only recent ones can explain one)."""


def recorded_decision(request: Request) -> Decision:
    """The write tier a request's usage shows (the tier with the most tokens written)."""
    t = request.tokens
    tiers = [(t.write_1h, "1h"), (t.write_30m, "30m"), (t.write_5m, "5m")]
    tokens, tier = max(tiers, key=lambda x: x[0])
    return Decision(tier if tokens > 0 else None)


def blocks_shared(prev: tuple[Block, ...] | None, now: tuple[Block, ...] | None) -> int:
    """Tokens of the leading blocks two prompts have in common (0 without structure)."""
    if prev is None or now is None:
        return 0
    shared = 0
    for a, b in zip(prev, now, strict=False):
        if a.digest != b.digest:
            break
        shared += b.tokens
    return shared


def _blocks_prefix(blocks: tuple[Block, ...]) -> int:
    total = 0
    end = 0
    for block in blocks:
        total += block.tokens
        if block.marker is not None:
            end = total
    return end or total


@dataclass(slots=True)
class Calibration:
    """How well replaying the recorded choices reproduces one stream's bill."""

    requests: int = 0
    exact: int = 0
    """Requests whose read and billed writes the model predicts to the token."""
    anomalies: dict[str, int] = field(default_factory=dict)
    anomaly_tokens: int = 0
    """Tokens of read the model could not predict, all at named anomalies."""
    error_tokens: int = 0
    """Read and write tokens off at requests that are NOT named anomalies (should be 0)."""
    errors: list[str] = field(default_factory=list)
    """Sources of those requests."""

    def to_dict(self) -> dict[str, object]:
        """Wire form."""
        return {
            "requests": self.requests,
            "exact": self.exact,
            "anomalies": dict(sorted(self.anomalies.items())),
            "anomalyTokens": self.anomaly_tokens,
            "errorTokens": self.error_tokens,
            "errors": list(self.errors),
        }

    def merge(self, other: Calibration) -> None:
        """Add another stream's calibration to this one."""
        self.requests += other.requests
        self.exact += other.exact
        self.anomaly_tokens += other.anomaly_tokens
        self.error_tokens += other.error_tokens
        self.errors.extend(other.errors)
        for kind, count in other.anomalies.items():
            self.anomalies[kind] = self.anomalies.get(kind, 0) + count


def _longest(state: State, t: float, shared: int, rules: CacheRules) -> int:
    """What the cache model reads at ``t`` within the ``shared`` prefix (0: nothing)."""
    live = readable(state, t, shared, rules)
    return live[-1][0] if live else 0


class Follower:
    """One stream's cache (same model), followed request by request from usage alone.

    Shared by replay's reconstruction and the traffic report's walk, so both name a
    request the same way.
    """

    __slots__ = ("_expired", "_prev", "_prev_prefix", "calibration", "rules", "state")

    def __init__(self, rules: CacheRules) -> None:
        self.rules = rules
        self.state: State = EMPTY
        self.calibration = Calibration()
        self._expired: dict[int, float] = {}
        self._prev: Request | None = None
        self._prev_prefix = 0

    def liveness(self, t_ms: float) -> Liveness:
        """What the model says of the stream's longest entry at ``t_ms``, before a request."""
        return liveness(self.state, t_ms, self.rules)

    def step(self, req: Request, rates: Rates | None) -> Step:
        """Follow one request (time order); returns its step, anomaly named."""
        rules = self.rules
        prev = self._prev
        tok = req.tokens
        read = int(tok.read)
        if req.blocks is not None:
            # Block sizes are estimates; the usage's own counts say what was cached.
            prefix = max(_blocks_prefix(req.blocks), int(tok.read + tok.writes))
            shared = min(blocks_shared(prev.blocks if prev else None, req.blocks), prefix)
        else:
            prefix = cached_after(tok.read, tok.writes, tok.input, rules)
            shared = min(self._prev_prefix, prefix) if prev is not None else 0
        anomaly: str | None = None
        external = 0
        # The same test as the report's: the prompt (all-in input) shrank; a usage-only
        # prefix of 0 (nothing read or written) is not a shrink, nor is a compaction call
        # (it reads the conversation and asks for a summary: the next request shrinks).
        shrank = prev is not None and req.blocks is None and tok.input < prev.tokens.input
        if prev is not None and req.blocks is None and not shrank:
            # A prompt that did not shrink extends the previous one: it holds that prefix
            # whatever it read or wrote (a request that neither read nor wrote missed it).
            shared = min(self._prev_prefix, int(tok.input))
            prefix = max(prefix, shared)
        if shrank:
            # A shrinking prompt keeps only what it read (the system prompt), the rest is
            # a new summary.
            shared = min(shared, read)
        t = req.timestamp_ms
        before = self.liveness(t)
        predicted = _longest(self.state, t, shared, rules)
        unpredicted = abs(read - predicted)
        if read < predicted:
            # Within the shared part nothing changed (sharing ends at the first change),
            # so this is a miss of an unchanged prefix: a short retention or unexplained.
            anomaly = miss_cause(
                first=False,
                model_switch=False,
                below_minimum=False,
                entry=before,
                shrank=False,
                drifted=False,
            )
            shared = read
            predicted = _longest(self.state, t, shared, rules)
        elif shrank:
            minimum = rules.min_tokens
            anomaly = miss_cause(
                first=False,
                model_switch=False,
                below_minimum=bool(tok.read == 0 and tok.writes == 0 and tok.input < minimum),
                entry=before,
                shrank=True,
                drifted=False,
            )
        if read > predicted:
            unpredicted = read - predicted
            external = read
            if anomaly is None:
                anomaly = LATE_READ if read in self._expired else EXTERNAL
        decision = recorded_decision(req)
        step = Step(
            t_ms=t,
            prefix=max(prefix, read),
            shared=shared,
            input=tok.input,
            output=tok.output,
            external=external,
            rates=rates,
            recorded=decision,
            request=req,
            anomaly=anomaly,
        )
        old = self.state
        self.state, served = serve(old, step, decision.tier, rules)
        kept = {e[0] for e in self.state}
        self._expired.update((e[0], e[1]) for e in old if e[0] not in kept)
        if len(self._expired) > _EXPIRED_MEMORY:
            self._expired.clear()
        self._calibrate(req, served.written if _billed(served) else None, unpredicted, anomaly)
        self._prev = req
        self._prev_prefix = step.prefix
        return step

    def _calibrate(
        self, req: Request, written: int | None, unpredicted: int, anomaly: str | None
    ) -> None:
        cal = self.calibration
        cal.requests += 1
        # Automatic caches write for free and report nothing: only billed writes compare.
        write_error = abs(written - int(req.tokens.writes)) if written is not None else 0
        read_error = unpredicted if anomaly not in (COMPACTION, DRIFT) else 0
        if anomaly is not None:
            cal.anomalies[anomaly] = cal.anomalies.get(anomaly, 0) + 1
            if anomaly not in (COMPACTION, DRIFT):
                cal.anomaly_tokens += read_error
        if write_error:
            cal.error_tokens += write_error
            cal.errors.append(req.source)
        elif anomaly is None:
            cal.exact += 1


def _billed(served: object) -> bool:
    rule = getattr(served, "rule", None)
    return rule is None or rule.billed_as is not None


def reconstruct(
    requests: Iterable[Request], rules: CacheRules, rates_of: RatesOf
) -> tuple[list[Step], Calibration]:
    """One stream's requests (same model, time order) as steps, with its calibration."""
    follower = Follower(rules)
    steps = [follower.step(req, rates_of(req)) for req in requests]
    return steps, follower.calibration


def with_misses(steps: list[Step], stream: str, miss: Callable[[str, int], bool]) -> list[Step]:
    """Mark the pessimistic setting's routing misses."""
    return [replace(s, miss=True) if miss(stream, i) else s for i, s in enumerate(steps)]
