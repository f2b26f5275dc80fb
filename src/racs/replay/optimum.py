"""The hindsight optimum: the cheapest decisions for a stream knowing its whole future.

Exact dynamic programming over cache states. After each step the state is the tuple of
live entries; every decision (each tier the provider offers, or no write) and, before the
step, keeping the previous entry warm through the gap or not, leads to a successor state.
Equal states merge keeping the cheaper path, dead entries leave the state, and an entry a
longer, longer-lived entry shadows until it dies (``cache.prune``) leaves it too: both
only forget what cannot change any future cost, so the minimum is exact. The tests check
it against brute force over every decision sequence of thousands of small streams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .cache import EMPTY, State, prune, serve, warm
from .costs import Unit, step_cost, unit_of
from .family import CacheRules
from .steps import Horizon, Step
from .strategies import Decision


def actions(rules: CacheRules) -> tuple[str | None, ...]:
    """Every decision tier of a family (``None`` is the automatic tier where there is one)."""
    return rules.options if rules.auto is not None else (None, *rules.options)


@dataclass(frozen=True, slots=True)
class Optimum:
    """The optimum of one stream."""

    cost: float
    """USD, linear per-token prices from ``cost_of``."""
    decisions: tuple[Decision, ...]
    """One per step (empty when not traced)."""
    states: int
    """Largest number of distinct states held at once (the DP's width)."""


def optimum(
    steps: Sequence[Step],
    rules: CacheRules,
    *,
    keep_warm: bool = True,
    trace: bool = True,
    units: Sequence[Unit] | None = None,
) -> Optimum:
    """The cheapest decision sequence for ``steps`` under ``rules``."""
    if not steps:
        return Optimum(0.0, (), 0)
    horizon = Horizon(list(steps))
    unit_list = list(units) if units is not None else [unit_of(s.rates) for s in steps]
    tiers = actions(rules)
    frontier: dict[State, float] = {EMPTY: 0.0}
    back: list[dict[State, tuple[State, bool, str | None]]] = []
    width = 1
    for i, step in enumerate(steps):
        unit = unit_list[i]
        nxt: dict[State, float] = {}
        links: dict[State, tuple[State, bool, str | None]] = {}
        for state, cost in frontier.items():
            variants = [(state, cost, False)]
            if keep_warm and i > 0 and state:
                warmed, touches, tokens = warm(state, rules, step.t_ms, math.inf)
                if touches:
                    variants.append((warmed, cost + touches * tokens * unit.read, True))
            for start, base, kept in variants:
                for tier in tiers:
                    after, served = serve(start, step, tier, rules)
                    total = base + step_cost(step, served, unit)
                    after = prune(after, i, horizon)
                    if total < nxt.get(after, math.inf):
                        nxt[after] = total
                        if trace:
                            links[after] = (state, kept, tier)
        frontier = nxt
        width = max(width, len(frontier))
        if trace:
            back.append(links)
    best_state, best = min(frontier.items(), key=lambda kv: kv[1])
    if not trace:
        return Optimum(best, (), width)
    tiers_of: list[str | None] = []
    warmed_before: list[bool] = []
    state = best_state
    for links in reversed(back):
        state, kept, tier = links[state]
        tiers_of.append(tier)
        warmed_before.append(kept)
    tiers_of.reverse()
    warmed_before.reverse()
    decisions = []
    for i, tier in enumerate(tiers_of):
        keep = 0.0
        if i + 1 < len(steps) and warmed_before[i + 1]:
            keep = (steps[i + 1].t_ms - steps[i].t_ms) / 1000
        decisions.append(Decision(tier, keep))
    return Optimum(best, tuple(decisions), width)
