"""Streams of steps from traffic, and the calibration that checks them against the bill.

Usage-only traffic (Claude Code) has no prompt text. Each request's cacheable prefix is
its reads plus its writes, taken as an extension of the previous request of the same
model in the same stream. Replaying the recorded choices through the cache model then
predicts each request's read; where the bill disagrees the replay names why:

- ``compaction``: the prompt shrank; it shares only what it read with the old one.
- ``miss``: it read less than a live entry it extends (an unexplained miss within the
  TTL, or an edit early in the prompt); it shares only what it read.
- ``external``: it read more than the stream's own history explains (the shared system
  prompt kept warm by another session, a compaction call's summary cache).
- ``late-read``: it read an entry the model had let expire (the TTL model is wrong there).

In every case the reconstruction gives the observed read to every strategy alike: the
shared length is cut to the read, and a read beyond the stream's own entries is offered
as an external read of that step. Requests with known structure (``blocks``) share the
common leading blocks instead, and their prefix ends at their last marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from racs.core.accounting import Rates
from racs.replay.cache import EMPTY, State, serve
from racs.replay.family import CacheRules
from racs.replay.steps import Step
from racs.replay.strategies import Decision
from racs.traffic.model import Request

RatesOf = Callable[[Request], Rates | None]


def recorded_decision(request: Request) -> Decision:
    """The write tier a request's usage shows (the tier with the most tokens written)."""
    t = request.tokens
    tiers = [(t.write_1h, "1h"), (t.write_30m, "30m"), (t.write_5m, "5m")]
    tokens, tier = max(tiers, key=lambda x: x[0])
    return Decision(tier if tokens > 0 else None)


def _blocks_shared(prev: Request | None, req: Request) -> int:
    if prev is None or prev.blocks is None or req.blocks is None:
        return 0
    shared = 0
    for a, b in zip(prev.blocks, req.blocks, strict=False):
        if a.digest != b.digest:
            break
        shared += b.tokens
    return shared


def _blocks_prefix(req: Request) -> int:
    assert req.blocks is not None
    total = 0
    end = 0
    for block in req.blocks:
        total += block.tokens
        if block.marker is not None:
            end = total
    return end or total


@dataclass(slots=True)
class Calibration:
    """How well replaying the recorded choices reproduces one stream's bill."""

    requests: int = 0
    exact: int = 0
    """Requests whose read and writes the model predicts to the token."""
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


def _longest(state: State, t: float, shared: int) -> int:
    """Longest entry live at ``t`` within the ``shared`` prefix (0: none)."""
    best = 0
    for tokens, expires, dies, _ in state:
        if tokens <= shared and t <= expires and t <= dies:
            best = max(best, tokens)
    return best


def reconstruct(
    requests: Iterable[Request], rules: CacheRules, rates_of: RatesOf
) -> tuple[list[Step], Calibration]:
    """One stream's requests (same model, time order) as steps, with its calibration."""
    steps: list[Step] = []
    cal = Calibration()
    state: State = EMPTY
    expired: dict[int, float] = {}
    prev: Request | None = None
    prev_prefix = 0
    for req in requests:
        tok = req.tokens
        read = int(tok.read)
        if req.blocks is not None:
            prefix = _blocks_prefix(req)
            shared = min(_blocks_shared(prev, req), prefix)
        else:
            prefix = int(tok.read + tok.writes)
            shared = min(prev_prefix, prefix) if prev is not None else 0
        anomaly: str | None = None
        external = 0
        if prev is not None and prefix < prev_prefix and req.blocks is None:
            # A shrinking prompt is a compaction: it keeps only what it read (the system
            # prompt), the rest is a new summary.
            anomaly = "compaction"
            shared = min(shared, read)
        predicted = _longest(state, req.timestamp_ms, shared)
        if read < predicted:
            anomaly = anomaly or "miss"
            shared = read
            predicted = _longest(state, req.timestamp_ms, shared)
        if read > predicted:
            external = read
            if anomaly is None:
                anomaly = "late-read" if read in expired else "external"
        decision = recorded_decision(req)
        step = Step(
            t_ms=req.timestamp_ms,
            prefix=max(prefix, read),
            shared=shared,
            input=tok.input,
            output=tok.output,
            external=external,
            rates=rates_of(req),
            recorded=decision,
            request=req,
            anomaly=anomaly,
        )
        before = state
        state, served = serve(state, step, decision.tier, rules)
        kept = {e[0] for e in state}
        expired.update((e[0], e[1]) for e in before if e[0] not in kept)
        if len(expired) > 4096:  # only recent expiries can explain a late read
            expired.clear()
        cal.requests += 1
        write_error = abs(served.written - int(tok.writes))
        read_error = abs(read - predicted) if anomaly != "compaction" else 0
        if anomaly is not None and anomaly != "compaction":
            cal.anomalies[anomaly] = cal.anomalies.get(anomaly, 0) + 1
            cal.anomaly_tokens += read_error
        elif anomaly == "compaction":
            cal.anomalies["compaction"] = cal.anomalies.get("compaction", 0) + 1
        if write_error:
            cal.error_tokens += write_error
            cal.errors.append(req.source)
        elif anomaly is None:
            cal.exact += 1
        steps.append(step)
        prev = req
        prev_prefix = step.prefix
    return steps, cal


def with_misses(steps: list[Step], stream: str, miss: Callable[[str, int], bool]) -> list[Step]:
    """Mark the pessimistic setting's routing misses."""
    return [replace(s, miss=True) if miss(stream, i) else s for i, s in enumerate(steps)]
