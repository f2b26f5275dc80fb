"""Block-granular automatic caches shared across conversations (the Mooncake trace).

No stream is known, so the chain model of ``reconstruct`` does not apply: an automatic
cache (routing-key or passive) is one pool of block prefixes all requests share. A request
reads its leading blocks while each is live (in the family's steps, above its minimum),
then every block it sent lives the tier's retention from now. Automatic writes are free, so
among the automatic tiers the longest retention is always the cheapest; the figures are
per tier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from racs.core.accounting import Cost, Rates, Tokens, cost_of
from racs.core.cache import NEUTRAL, CacheRules, Setting
from racs.core.errors import invalid
from racs.traffic.model import Request


@dataclass(frozen=True, slots=True)
class PoolResult:
    """One tier over the whole trace."""

    tier: str | None
    requests: int
    input_tokens: float
    read_tokens: float
    cost: Cost

    @property
    def hit_share(self) -> float:
        """Read tokens over input tokens."""
        return self.read_tokens / self.input_tokens if self.input_tokens else 0.0


def replay_pool(
    requests: Iterable[Request],
    rules: CacheRules,
    rates: Rates | None,
    tier: str | None,
    setting: Setting = NEUTRAL,
) -> PoolResult:
    """Replay requests with ``blocks`` through one shared automatic cache of ``tier``
    (``None``: no cache at all)."""
    rule = rules.rule(tier) if tier is not None else None
    # prefix key (the block id: ids already stand for their whole prefix) -> (expires, dies)
    pool: dict[str, tuple[float, float]] = {}
    tally = [0.0, 0.0, 0.0]  # fresh, read, output
    n = 0
    input_total = 0.0
    for i, req in enumerate(requests):
        if req.blocks is None:
            raise invalid(f"{req.source}: no block structure to replay")
        t = req.timestamp_ms
        total = req.tokens.input
        read = 0
        if rule is not None and not setting.misses("pool", i):
            covered = 0
            for block in req.blocks:
                live = pool.get(block.digest)
                if live is None or t > live[0] or t > live[1]:
                    break
                covered += block.tokens
            read = rules.cacheable(covered)
        if rule is not None:
            for block in req.blocks:
                old = pool.get(block.digest)
                dies = old[1] if old is not None else t + (rule.max_life_ms or float("inf"))
                if old is not None and t > min(old[0], old[1]):
                    dies = t + (rule.max_life_ms or float("inf"))
                pool[block.digest] = (min(t + rule.ttl_ms, dies), dies)
            if i % 4096 == 0:  # forget dead blocks: memory follows the live pool
                for key in [k for k, v in pool.items() if t > min(v)]:
                    del pool[key]
        n += 1
        input_total += total
        tally[0] += total - read
        tally[1] += read
        tally[2] += req.tokens.output
    cost = Cost()
    if rates is not None:
        cost = cost_of(Tokens(fresh=tally[0], read=tally[1], output=tally[2]), rates)
    return PoolResult(tier, n, input_total, tally[1], cost)
