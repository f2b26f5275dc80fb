"""Replay one stream under one strategy: decisions in time order, tokens and dollars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racs.core.accounting import Cost, Rates, Tokens, cost_of, storage_usd
from racs.core.cache import EMPTY, CacheRules, State, prune, serve, warm
from racs.core.errors import invalid
from racs.replay.costs import storage_of, tokens_of
from racs.replay.optimum import actions
from racs.replay.steps import Horizon, Step
from racs.replay.strategies import Decision, Live, Situation, Strategy

SLACK_MS = 1e-3
"""Keep-warm limits are given in seconds; this absorbs the float round trip."""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One request under one strategy."""

    decision: Decision
    read: int
    written: int
    tier: str | None
    touches: int
    """Keep-warm touches sent before this request (after it, for the stream's last)."""
    tokens: Tokens
    cost: Cost


class Tally:
    """Tokens by rates and storage dollars, priced with ``cost_of`` once per rates."""

    __slots__ = ("_last", "_last_acc", "by_rates", "storage")

    def __init__(self) -> None:
        self.by_rates: dict[Rates, list[float]] = {}
        self.storage = 0.0
        # A stream's steps mostly share one Rates object: skip hashing it again.
        self._last: Rates | None = None
        self._last_acc: list[float] = []

    def add(self, rates: Rates | None, tokens: Tokens, token_hours: float) -> None:
        """Count one step's tokens (unpriced steps cost nothing)."""
        if rates is None:
            return
        if rates is self._last:
            acc = self._last_acc
        else:
            found = self.by_rates.get(rates)
            if found is None:
                found = self.by_rates[rates] = [0.0] * 6
            acc = self._last_acc = found
            self._last = rates
        acc[0] += tokens.fresh
        acc[1] += tokens.read
        acc[2] += tokens.write_5m
        acc[3] += tokens.write_30m
        acc[4] += tokens.write_1h
        acc[5] += tokens.output
        if token_hours:
            self.storage += storage_usd(token_hours * 1e6, 3600, rates.storage_per_mtok_hour)

    def cost(self) -> Cost:
        """The dollars of everything counted."""
        total = Cost(storage=self.storage)
        for rates, acc in self.by_rates.items():
            total = total + cost_of(Tokens(*acc), rates)
        return total


def _shortcut(strategy: Strategy) -> object:
    return getattr(strategy, "shortcut", None)


def run(
    key: str,
    family: str,
    steps: Sequence[Step],
    rules: CacheRules,
    strategy: Strategy,
    horizon: Horizon | None,
    *,
    detail: bool = False,
) -> tuple[Cost, list[StepOutcome]]:
    """Replay ``steps`` under ``strategy``; ``horizon`` (hindsight) only prunes dead state."""
    offered = actions(rules)
    fast = _shortcut(strategy)
    state: State = EMPTY
    tally = Tally()
    outcomes: list[StepOutcome] = []
    last: Decision | None = None
    prev_t = 0.0
    for i, step in enumerate(steps):
        touches = touch_tokens = 0
        if last is not None and last.keep_warm_s > 0:
            limit = prev_t + last.keep_warm_s * 1000 + SLACK_MS
            state, touches, touch_tokens = warm(state, rules, step.t_ms, limit)
        if callable(fast):
            decision = fast(step, offered)
        else:
            decision = strategy.decide(_situation(key, family, i, step, state, prev_t, offered))
        if decision.tier not in offered and not (decision.tier is None and rules.auto):
            raise invalid(
                f"strategy {strategy.name!r} chose tier {decision.tier!r}; "
                f"this provider offers {', '.join(str(o) for o in offered)}"
            )
        state, served = serve(state, step, decision.tier, rules)
        if horizon is not None:
            state = prune(state, i, horizon)
        tokens = tokens_of(step, served, touches * touch_tokens)
        hours = storage_of(served)
        tally.add(step.rates, tokens, hours)
        if detail:
            cost = priced(tokens, step.rates, hours)
            tier = served.rule.name if served.rule is not None else None
            outcomes.append(
                StepOutcome(decision, served.read, served.written, tier, touches, tokens, cost)
            )
        last = decision
        prev_t = step.t_ms
    if last is not None and last.keep_warm_s > 0 and steps:
        # Touches after the stream's last request buy nothing but are still billed.
        end = prev_t + last.keep_warm_s * 1000 + SLACK_MS
        state, touches, touch_tokens = warm(state, rules, end + 1, end)
        if touches:
            extra = Tokens(read=touches * touch_tokens)
            tally.add(steps[-1].rates, extra, 0.0)
            if detail and outcomes:
                o = outcomes[-1]
                tokens = o.tokens + extra
                cost = priced(tokens, steps[-1].rates, 0.0) + Cost(storage=o.cost.storage)
                outcomes[-1] = StepOutcome(
                    o.decision, o.read, o.written, o.tier, o.touches + touches, tokens, cost
                )
    strategy.end_stream(key)
    return tally.cost(), outcomes


def priced(tokens: Tokens, rates: Rates | None, token_hours: float) -> Cost:
    """One step's dollars: its tokens at its rates, plus storage (nothing when unpriced)."""
    if rates is None:
        return Cost()
    return cost_of(tokens, rates, storage_usd(token_hours * 1e6, 3600, rates.storage_per_mtok_hour))


def _situation(
    key: str,
    family: str,
    index: int,
    step: Step,
    state: State,
    prev_t: float,
    offered: tuple[str | None, ...],
) -> Situation:
    t = step.t_ms
    live = tuple(Live(e[0], e[3], min(e[1], e[2])) for e in state if t <= e[1] and t <= e[2])
    readable = [e.tokens for e in live if e.tokens <= step.shared]
    read = 0 if step.miss else max([step.external, *readable])
    assert step.request is not None
    return Situation(
        request=step.request,
        index=index,
        stream=key,
        family=family,
        options=offered,
        prefix_tokens=step.prefix,
        read_tokens=read,
        live=live,
        gap_s=None if index == 0 else (t - prev_t) / 1000,
        rates=step.rates,
        recorded=step.recorded,
    )
