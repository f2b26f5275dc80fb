"""A step's tokens by class and its price, from what the cache did.

Dollars always come from ``racs.core.accounting.cost_of``; the optimum's inner loop uses the
per-token prices ``cost_of`` gives for one million tokens of each class (cost is linear
in tokens at fixed rates), so both sides price a step identically.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from racs.core.accounting import MTOK, Rates, Tokens, cost_of, storage_usd
from racs.core.cache import Served
from racs.replay.steps import Step


class Unit(NamedTuple):
    """USD per token of each class at one step's rates."""

    input: float
    read: float
    write_5m: float
    write_30m: float
    write_1h: float
    output: float
    storage_hour: float
    """USD per token-hour of storage."""

    def write(self, tier: str) -> float:
        """The write price of an accounting tier."""
        return float(getattr(self, f"write_{tier}"))


ZERO_UNIT = Unit(0, 0, 0, 0, 0, 0, 0)


@functools.lru_cache(maxsize=1024)
def unit_of(rates: Rates | None) -> Unit:
    """Per-token prices (all zero for an unpriced model)."""
    if rates is None:
        return ZERO_UNIT

    def per(**kw: float) -> float:
        return cost_of(Tokens(**kw), rates).total / MTOK

    return Unit(
        per(fresh=MTOK),
        per(read=MTOK),
        per(write_5m=MTOK),
        per(write_30m=MTOK),
        per(write_1h=MTOK),
        per(output=MTOK),
        storage_usd(MTOK, 3600, rates.storage_per_mtok_hour) / MTOK,
    )


def tokens_of(step: Step, served: Served, touch_tokens: int = 0) -> Tokens:
    """The step's tokens by class; keep-warm touches before it count as reads."""
    rule = served.rule
    billed_as = rule.billed_as if rule is not None else None
    billed = served.written if billed_as is not None else 0
    written = float(billed) if billed_as else 0.0
    fresh = max(0.0, step.input - served.read - billed)
    return Tokens(
        fresh=fresh,
        read=served.read + touch_tokens,
        write_5m=written if billed_as == "5m" else 0.0,
        write_30m=written if billed_as == "30m" else 0.0,
        write_1h=written if billed_as == "1h" else 0.0,
        output=step.output,
    )


def storage_of(served: Served) -> float:
    """Token-hours of storage the step's write bills (Gemini cached contents)."""
    rule = served.rule
    if rule is None or not rule.storage:
        return 0.0
    return served.written * rule.ttl_ms / 3_600_000


def step_cost(step: Step, served: Served, unit: Unit, touch_tokens: int = 0) -> float:
    """USD of a step, linear in its tokens (the optimum's fast path)."""
    rule = served.rule
    billed = served.written if rule is not None and rule.billed_as is not None else 0
    fresh = max(0.0, step.input - served.read - billed)
    cost = fresh * unit.input + (served.read + touch_tokens) * unit.read
    cost += step.output * unit.output
    if billed and rule is not None and rule.billed_as is not None:
        cost += billed * unit.write(rule.billed_as)
    if rule is not None and rule.storage:
        cost += storage_of(served) * unit.storage_hour
    return cost
