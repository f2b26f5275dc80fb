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

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from racs.core.cache import EMPTY, CacheRules, Entry, State, TierRule, readable, warm
from racs.replay.costs import Unit, unit_of
from racs.replay.steps import Horizon, Step
from racs.replay.strategies import Decision


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

    # A state's path: [cost, previous state, kept warm before the step, tier]. One mutable
    # list per state spares hashing the state again to record its link.
    frontier: dict[State, list[Any]] = {EMPTY: [0.0, EMPTY, False, None]}
    back: list[dict[State, list[Any]]] = []
    width = 1
    # The loop below is ``cache.serve``, ``cache.prune`` and ``costs.step_cost`` inlined,
    # with what depends only on the step or the tier hoisted out of the per-state loop:
    # the same float operations in the same order, so the same minimum and tie-breaks.
    chosen = [(tier, rules.rule(tier)) for tier in tiers]
    refresh = {n: r.ttl_ms for n, r in rules.tiers.items() if r.refresh_on_read}
    cut_index = [c[0] for c in horizon.cuts]
    # Automatic entries serve any prefix of themselves (``cache.readable``); exact ones,
    # the common case, keep the inlined filter.
    partial = any(r.partial for r in rules.tiers.values())
    for i, step in enumerate(steps):
        unit = unit_list[i]
        t = step.t_ms
        shared = step.shared
        miss = step.miss
        external = 0 if miss else step.external
        inp = step.input
        u_in = unit.input
        u_read = unit.read
        out_cost = step.output * unit.output
        cap = touch_cap(unit)
        target = rules.cacheable(step.prefix)
        renew = {n: t + ttl for n, ttl in refresh.items()}
        # Per tier: tier, rule, whole prefix, billed, write price, new entry, storage TTL.
        plans: list[tuple[str | None, TierRule | None, bool, bool, float, State, float]] = []
        for tier, rule in chosen:
            if rule is None:
                plans.append((tier, None, False, False, 0.0, (), 0.0))
                continue
            dies = t + rule.max_life_ms if rule.max_life_ms is not None else math.inf
            entry = (target, min(t + rule.ttl_ms, dies), dies, rule.name)
            billed_as = rule.billed_as
            price = unit.write(billed_as) if billed_as is not None else 0.0
            plans.append(
                (
                    tier,
                    rule,
                    rule.whole_prefix,
                    billed_as is not None,
                    price,
                    (entry,),
                    rule.ttl_ms if rule.storage else 0.0,
                )
            )
        future = [(c[1], c[2]) for c in horizon.cuts[bisect.bisect_right(cut_index, i) :]]
        pruned: dict[State, State] = {}
        nxt: dict[State, list[Any]] = {}
        for state, path in frontier.items():
            cost = path[0]
            variants = [(state, cost, False)]
            if keep_warm and i > 0 and state:
                warmed, touches, tokens = warm(state, rules, t, math.inf)
                if 0 < touches <= cap:
                    variants.append((warmed, cost + touches * tokens * u_read, True))
            for start, base, kept in variants:
                if partial:
                    live = readable(start, t, shared, rules)
                else:
                    live = [e for e in start if e[0] <= shared and t <= e[1] and t <= e[2]]
                top_i = len(live) - 1 if live and not miss else -1
                read0 = live[top_i][0] if top_i >= 0 else 0
                if external > read0:
                    read0, top_i = external, -1
                plain = tuple(live)
                kept_live = plain
                if top_i >= 0:
                    tokens_, _, dies_, name_ = live[top_i]
                    again = renew.get(name_)
                    if again is not None:
                        live[top_i] = (tokens_, min(again, dies_), dies_, name_)
                        kept_live = tuple(live)
                for tier, rule, whole, is_billed, price, new, storage in plans:
                    read = read0
                    after = kept_live
                    written = 0
                    if rule is not None and target > read:
                        if whole:
                            read = 0
                            after = plain
                            written = target
                        else:
                            written = target - read
                    if written:
                        after = after + new
                        billed = written if is_billed else 0
                        total = max(0.0, inp - read - billed) * u_in + read * u_read
                        total += out_cost
                        if billed:
                            total += billed * price
                        if storage:
                            total += written * storage / 3_600_000 * unit.storage_hour
                    else:
                        total = max(0.0, inp - read) * u_in + read * u_read
                        total += out_cost
                    total = base + total
                    if len(after) > 1:
                        found = pruned.get(after)
                        if found is None:
                            found = pruned[after] = _prune(after, future)
                        after = found
                    node = nxt.get(after)
                    if node is None:
                        nxt[after] = [total, state, kept, tier]
                    elif total < node[0]:
                        node[0] = total
                        node[1] = state
                        node[2] = kept
                        node[3] = tier
        if monotone:
            _dominate(nxt, tuple(c[1] for c in future))
        frontier = nxt
        width = max(width, len(frontier))
        if trace:
            back.append(nxt)
    best_state, best_path = min(frontier.items(), key=lambda kv: kv[1][0])
    best = best_path[0]
    if not trace:
        return Optimum(best, (), width)
    tiers_of: list[str | None] = []
    warmed_before: list[bool] = []
    state = best_state
    for links in reversed(back):
        _, state, kept, tier = links[state]
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


def _prune(state: State, future: list[tuple[float, int]]) -> State:
    """``cache.prune`` with the step's future cuts ``(t_ms, shared)`` already looked up."""
    kept: list[Entry] = []
    last = len(state) - 1
    for i, entry in enumerate(state):
        if i < last:
            death = entry[1] if entry[1] < entry[2] else entry[2]
            low = entry[0]
            gone = False
            for above in state[i + 1 :]:
                lives = above[1] if above[1] < above[2] else above[2]
                if lives >= death and _intact(future, death, low, above[0]):
                    gone = True
                    break
            if gone:
                continue
        kept.append(entry)
    return tuple(kept) if len(kept) != len(state) else state


def _intact(future: list[tuple[float, int]], until_ms: float, low: int, high: int) -> bool:
    """``Horizon.intact`` over the step's future cuts."""
    for t, shared in future:
        if t > until_ms:
            return True
        if low <= shared < high:
            return False
    return True


def touch_cap(unit: Unit) -> float:
    """Most keep-warm touches the optimum spends on one gap: ``(input - read) / read``."""
    if unit.read <= 0:
        return math.inf
    return math.floor((unit.input - unit.read) / unit.read + 1e-9)


def _monotone(unit: Unit) -> bool:
    """Reading more never costs more at these prices (read <= input <= every write)."""
    writes = (unit.write_5m, unit.write_30m, unit.write_1h)
    return unit.read <= unit.input and all(w >= unit.input for w in writes)


def _dominate(frontier: dict[State, list[Any]], cuts: tuple[int, ...]) -> None:
    """Drop states another state dominates (see the module docstring).

    Same number of entries and tiers; the top entries live exactly as long; with two
    entries the fallback may live longer; every entry at least as long; cost no higher;
    and no later step cuts the prompt between an entry and the longer one dominating it.
    """
    groups: dict[tuple[object, ...], list[tuple[float, tuple[int, ...], int, State]]] = {}
    for n, (state, path) in enumerate(frontier.items()):
        if not state:
            continue
        if len(state) == 2:
            sig: tuple[object, ...] = (state[0][3], state[1][1:])
        else:
            sig = tuple([e[1:] for e in state])
        # Cheapest first, then longest entries; the insertion index keeps ties stable.
        groups.setdefault(sig, []).append((path[0], tuple([-e[0] for e in state]), n, state))
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort()
        kept: list[tuple[float, State]] = []
        for cost, _, _, state in members:
            for k_cost, k in kept:
                if k_cost <= cost and _covers(k, state, cuts):
                    del frontier[state]
                    break
            else:
                kept.append((cost, state))


def _covers(a: State, b: State, cuts: tuple[int, ...]) -> bool:
    """Every entry of ``a`` at least as long (and, for a fallback, as long-lived) as
    ``b``'s, and no future cut falls between the two lengths."""
    for x, y in zip(a, b):  # noqa: B905 (same length: one group, one signature)
        x0 = x[0]
        y0 = y[0]
        if x0 < y0 or x[1] < y[1] or x[2] < y[2]:
            return False
        if x0 > y0:
            for c in cuts:
                if y0 <= c < x0:
                    return False
    return True
