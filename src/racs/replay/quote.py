"""Quote the hindsight for one request: "a 1h write here would have saved $0.47"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from racs.core.accounting import Tokens, cost_of
from racs.core.cache import EMPTY, CacheRules, State, prune, rules_for, serve, warm
from racs.core.catalog import default_profile_of
from racs.core.errors import invalid
from racs.core.prices import PriceBook
from racs.core.tiers import TIER
from racs.replay.costs import storage_of, tokens_of
from racs.replay.optimum import actions, optimum
from racs.replay.reconstruct import reconstruct
from racs.replay.simulate import SLACK_MS, priced, run
from racs.replay.steps import Horizon, Step
from racs.replay.strategies import Decision, Situation
from racs.traffic.model import Request


@dataclass(frozen=True, slots=True)
class Quote:
    """The best decision for one request, the rest of its stream as recorded."""

    tier: str | None
    """The cheapest tier for that request (``None``: no write)."""
    saved_usd: float
    """What it would have saved against what the stream paid (0 when recorded is best)."""
    optimum_tier: str | None
    """The tier the stream's hindsight optimum gives that request (``None`` also when
    not asked for)."""

    def sentence(self) -> str:
        """The quote for a finding."""
        if self.saved_usd <= 0:
            return "the recorded choice here was already the cheapest"
        what = "no write" if self.tier is None else f"a {self.tier} write"
        return f"{what} here would have saved ${self.saved_usd:.2f}"


def replayable(
    stream: Sequence[Request], prices: PriceBook | None = None
) -> tuple[CacheRules, list[Step]]:
    """A stream's cache rules (its first request's provider and model) and its steps as
    reconstructed and priced for replay; ``RacsError`` without a cache profile."""
    first = stream[0]
    profile = default_profile_of(first.provider, first.model)
    if profile is None:
        raise invalid(f"no cache profile for provider {first.provider!r}")
    rules = rules_for(profile)
    book = prices if prices is not None else PriceBook()
    steps, _ = reconstruct(
        stream,
        rules,
        lambda r: book.rates(
            r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
        ),
    )
    return rules, steps


class Quoter:
    """Quotes for the requests of one stream, reconstructing and replaying it once.

    Changing one request's decision changes the cache only until its state meets the
    recorded one again (a later write replaces the entry, or it expires unread), so a quote
    replays from that request to where the two states meet, not to the stream's end: the
    cost of all the quotes of a stream grows with the stream, not with its square.
    """

    def __init__(self, stream: Sequence[Request], prices: PriceBook | None = None) -> None:
        if not stream:
            raise invalid("an empty stream has nothing to quote")
        self.rules, self.steps = replayable(stream, prices)
        self.horizon = Horizon(self.steps)
        self._offered = actions(self.rules)
        self._optimum: tuple[Decision, ...] | None = None
        # The recorded replay: the state before each step, the state after it and its cost.
        self._before: list[State] = []
        self._after: list[State] = []
        self._cost: list[float] = []
        state: State = EMPTY
        last: Decision | None = None
        prev_t = 0.0
        for i, step in enumerate(self.steps):
            self._before.append(state)
            state, cost = self._step(i, step, step.recorded, state, last, prev_t)
            self._after.append(state)
            self._cost.append(cost)
            last, prev_t = step.recorded, step.t_ms
        self._tail = self._trailing(last, prev_t)

    def quote(self, index: int, *, with_optimum: bool = False) -> Quote:
        """The cheapest decision for request ``index``, every other one as recorded."""
        if not 0 <= index < len(self.steps):
            raise invalid(f"request index {index} outside a stream of {len(self.steps)}")
        best_tier, best = self.steps[index].recorded.tier, 0.0
        for tier in self._offered:
            delta = self.delta(index, Decision(tier))
            if delta < best - 1e-12:
                best_tier, best = tier, delta
        optimum_tier = None
        if with_optimum:
            if self._optimum is None:
                self._optimum = tuple(optimum(self.steps, self.rules).decisions)
            optimum_tier = self._optimum[index].tier
        return Quote(best_tier, -best, optimum_tier)

    def delta(self, index: int, decision: Decision) -> float:
        """Dollars the stream would cost more (negative: less) with ``decision`` at ``index``."""
        steps, rules = self.steps, self.rules
        if decision.tier not in self._offered and not (decision.tier is None and rules.auto):
            raise invalid(f"tier {decision.tier!r}; this provider offers {self._offered}")
        state = self._before[index]
        last = steps[index - 1].recorded if index else None
        prev_t = steps[index - 1].t_ms if index else 0.0
        delta = 0.0
        for i in range(index, len(steps)):
            step = steps[i]
            chosen = decision if i == index else step.recorded
            state, cost = self._step(i, step, chosen, state, last, prev_t)
            delta += cost - self._cost[i]
            last, prev_t = chosen, step.t_ms
            if state == self._after[i] and chosen == step.recorded:
                return delta  # from here on both replays are the same
        return delta + self._trailing(last, prev_t) - self._tail

    def _step(
        self,
        i: int,
        step: Step,
        decision: Decision,
        state: State,
        last: Decision | None,
        prev_t: float,
    ) -> tuple[State, float]:
        """One request as ``run`` replays it: keep-warm touches, the decision, pruning."""
        rules = self.rules
        touches = touch_tokens = 0
        if last is not None and last.keep_warm_s > 0:
            limit = prev_t + last.keep_warm_s * 1000 + SLACK_MS
            state, touches, touch_tokens = warm(state, rules, step.t_ms, limit)
        state, served = serve(state, step, decision.tier, rules)
        state = prune(state, i, self.horizon)
        tokens = tokens_of(step, served, touches * touch_tokens)
        return state, priced(tokens, step.rates, storage_of(served)).total

    def _trailing(self, last: Decision | None, prev_t: float) -> float:
        """Touches sent after the stream's last request (billed, buying nothing)."""
        if last is None or last.keep_warm_s <= 0 or not self.steps:
            return 0.0
        end = prev_t + last.keep_warm_s * 1000 + SLACK_MS
        state = self._after[-1]
        _, touches, touch_tokens = warm(state, self.rules, end + 1, end)
        if not touches:
            return 0.0
        return priced(Tokens(read=touches * touch_tokens), self.steps[-1].rates, 0.0).total


def quotes(
    stream: Sequence[Request],
    indices: Sequence[int],
    prices: PriceBook | None = None,
    *,
    with_optimum: bool = False,
) -> list[Quote]:
    """``best_choice_savings`` for several requests of one stream, reconstructing it once
    (``with_optimum`` also runs the stream's DP for ``Quote.optimum_tier``)."""
    quoter = Quoter(stream, prices)
    return [quoter.quote(index, with_optimum=with_optimum) for index in indices]


def best_choice_savings(
    stream: Sequence[Request],
    index: int,
    prices: PriceBook | None = None,
    *,
    with_optimum: bool = True,
) -> Quote:
    """For ``stream[index]`` (requests of one stream and model, in time order): the tier
    that would have cost least with every other request as recorded, and the saving."""
    return Quoter(stream, prices).quote(index, with_optimum=with_optimum)


class _Chosen:
    """Replays recorded decisions except at the given indices."""

    name = "chosen"

    def __init__(self, chosen: dict[int, Decision]) -> None:
        self.chosen = chosen
        self.i = 0

    def shortcut(self, step: Step, options: object) -> Decision:
        i = self.i
        self.i += 1
        return self.chosen.get(i, step.recorded)

    def decide(self, situation: Situation) -> Decision:
        raise AssertionError("replayed through shortcut")

    def end_stream(self, stream: str) -> None:
        self.i = 0


@dataclass(frozen=True, slots=True)
class Hindsight:
    """What one stream paid and what replay's hindsight says it could have paid."""

    recorded_usd: float
    optimum_usd: float | None
    """``None``: not asked for (``exact=False``)."""
    five_usd: float | None
    """Every write at 5m (``None``: the provider offers no such pair of tiers)."""
    mixed_usd: float | None
    """Writing 5m, and 1h only before the stream's longest pauses (``None``: the provider
    offers no such pair of tiers, or the stream has no pause to cover)."""
    pauses: tuple[float, ...]
    """The pauses (seconds) the mixed choice writes 1h before, longest first."""
    pause_at: tuple[int, ...] = ()
    """The requests the mixed choice writes at 1h (each the last before a pause)."""

    @property
    def gap_usd(self) -> float | None:
        """The most any choice could have saved on this stream (``None``: not computed)."""
        if self.optimum_usd is None:
            return None
        return max(0.0, self.recorded_usd - self.optimum_usd)


def stream_hindsight(
    stream: Sequence[Request],
    prices: PriceBook | None = None,
    *,
    pauses: int = 3,
    prefix: int | None = None,
    exact: bool = True,
) -> Hindsight:
    """The recorded cost of a stream (one stream and model, time order), its optimum (the
    dynamic program, skipped without ``exact``) and the mixed-tier choice over its
    ``pauses`` longest pauses. ``prefix``: assume every request's first ``prefix`` tokens
    repeat (a stream whose usage shows no cache at all, so reconstruction cannot see what
    was shared)."""
    rules, steps = replayable(stream, prices)
    if prefix is not None:
        steps = [
            replace(s, prefix=max(s.prefix, prefix), shared=prefix if i else 0)
            for i, s in enumerate(steps)
        ]
    horizon = Horizon(steps)

    def cost(chosen: dict[int, Decision]) -> float:
        total, _ = run("hindsight", rules.family, steps, rules, _Chosen(chosen), horizon)
        return total.total

    best = optimum(steps, rules, trace=False).cost if exact or prefix is not None else None
    mixed = five = None
    longest: tuple[float, ...] = ()
    if prefix is not None:
        # The replayed record would read the assumed prefix: what the stream paid is the
        # record here, each request's ``cost_of`` at its rates.
        paid = 0.0
        for s in steps:
            if s.request is not None and s.rates is not None:
                paid += cost_of(s.request.tokens, s.rates).total
        return Hindsight(paid, best, None, None, ())
    recorded = cost({})
    if "5m" in rules.options and "1h" in rules.options:
        five = cost({i: Decision("5m") for i in range(len(steps))})
    if five is not None and len(steps) > 1:
        gaps = sorted(
            ((steps[i + 1].t_ms - steps[i].t_ms) / 1000, i) for i in range(len(steps) - 1)
        )
        chosen = {i: Decision("5m") for i in range(len(steps))}
        over = [(g, i) for g, i in gaps if g > TIER["5m"].seconds][-pauses:]
        for _, i in over:
            chosen[i] = Decision("1h")
        if over:
            longest = tuple(sorted((g for g, _ in over), reverse=True))
            mixed = cost(chosen)
            return Hindsight(
                recorded, best, five, mixed, longest, tuple(sorted(i for _, i in over))
            )
    return Hindsight(recorded, best, five, mixed, longest)
