"""The provider cache of one stream: pure transitions shared by the simulation and the DP.

A state is a tuple of live entries ``(tokens, expires_ms, dies_ms, tier)``, shortest
first. A step reads the longest live entry that is a prefix of it (``tokens <= shared``),
alive when ``t <= expires`` (the boundary inclusive), refreshes it if its tier refreshes
on read, and writes the rest of its prefix up to the step's own length. Every new entry is
longer than every live one, so the tuple stays sorted by appending.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from racs.replay.family import CacheRules, TierRule
from racs.replay.steps import Horizon, Step

Entry = tuple[int, float, float, str]
State = tuple[Entry, ...]
EMPTY: State = ()


class Served(NamedTuple):
    """What one step read and wrote."""

    read: int
    written: int
    rule: TierRule | None
    """The rule of the write (``None``: nothing written)."""


def serve(state: State, step: Step, tier: str | None, rules: CacheRules) -> tuple[State, Served]:
    """Apply one step with a decision tier; returns the new state and what it did."""
    t = step.t_ms
    shared = step.shared
    live = [e for e in state if e[0] <= shared and t <= e[1] and t <= e[2]]
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
    ``until_ms`` (the next step) and no later than ``limit_ms``.

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


def prune(state: State, index: int, horizon: Horizon) -> State:
    """Drop entries that can never be read again.

    An entry below a longer one is touched only when the longer one is unreadable; if the
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
