"""The hindsight optimum: the cheapest decisions for a stream knowing its whole future.

Exact dynamic programming over cache states. After each step the state is the tuple of
live entries; every decision (each tier the provider offers, or no write) and, before the
step, keeping the previous entry warm through the gap or not, leads to a successor state.
Equal states merge keeping the cheaper path, dead entries leave the state, and an entry a
longer, longer-lived entry shadows until it dies (``cache.prune``) leaves it too: both
only forget what cannot change any future cost.

One more rule keeps the width small: of two states with entries of the same tiers, whose
entries live exactly as long (a two-entry state's fallback may live longer), the one
whose entries are all no shorter and which cost no more dominates, provided no later step
cuts the prompt between an entry and the longer one standing for it. Playing the other
state's decisions from it reads at least as much at every request (a longer-lived
fallback is read only when the other state has nothing left to read); its only extra
cost is keep-warm touches of longer entries, and the optimum keeps an entry warm
through a gap only when the gap needs at most ``(input - read) / read`` touches (9 at a
0.1x read price), each gap then followed by a request that reads the touched entry and
saves more than the touches cost. That bound on keep-warm is the one limit of the action
space; within it the minimum is exact. The tests check it against brute force over every
decision sequence of thousands of small streams.
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
    monotone = all(_monotone(u) for u in unit_list)

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
                if 0 < touches <= touch_cap(unit):
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
        if monotone:
            _dominate(nxt, tuple(c[2] for c in horizon.after(i)))
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


def touch_cap(unit: Unit) -> float:
    """Most keep-warm touches the optimum spends on one gap: ``(input - read) / read``."""
    if unit.read <= 0:
        return math.inf
    return math.floor((unit.input - unit.read) / unit.read + 1e-9)


def _monotone(unit: Unit) -> bool:
    """Reading more never costs more at these prices (read <= input <= every write)."""
    writes = (unit.write_5m, unit.write_30m, unit.write_1h)
    return unit.read <= unit.input and all(w >= unit.input for w in writes)


def _dominate(frontier: dict[State, float], cuts: tuple[int, ...]) -> None:
    """Drop states another state dominates (see the module docstring).

    Same number of entries and tiers; the top entries live exactly as long; with two
    entries the fallback may live longer; every entry at least as long; cost no higher;
    and no later step cuts the prompt between an entry and the longer one dominating it.
    """
    groups: dict[tuple[object, ...], list[State]] = {}
    for state in frontier:
        if not state:
            continue
        if len(state) == 2:
            sig: tuple[object, ...] = (state[0][3], state[1][1:])
        else:
            sig = tuple(e[1:] for e in state)
        groups.setdefault(sig, []).append(state)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda s: (frontier[s], tuple(-e[0] for e in s)))
        kept: list[State] = []
        for state in members:
            cost = frontier[state]
            if any(frontier[k] <= cost and _covers(k, state, cuts) for k in kept):
                del frontier[state]
            else:
                kept.append(state)


def _covers(a: State, b: State, cuts: tuple[int, ...]) -> bool:
    """Every entry of ``a`` at least as long (and, for a fallback, as long-lived) as
    ``b``'s, and no future cut falls between the two lengths."""
    for x, y in zip(a, b, strict=True):
        if x[0] < y[0] or x[1] < y[1] or x[2] < y[2]:
            return False
        if x[0] > y[0] and any(y[0] <= c < x[0] for c in cuts):
            return False
    return True
