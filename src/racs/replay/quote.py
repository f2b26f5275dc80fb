"""Quote the hindsight for one request: "a 1h write here would have saved $0.47"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from racs.core.accounting import cost_of
from racs.core.cache import rules_for
from racs.core.catalog import default_profile_of
from racs.core.errors import invalid
from racs.core.prices import PriceBook
from racs.core.tiers import TIER
from racs.replay.optimum import actions, optimum
from racs.replay.reconstruct import reconstruct
from racs.replay.simulate import run
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


class _OneChanged:
    name = "one-changed"

    def __init__(self, index: int, decision: Decision) -> None:
        self.index = index
        self.decision = decision
        self.i = 0

    def shortcut(self, step: Step, options: object) -> Decision:
        i = self.i
        self.i += 1
        return self.decision if i == self.index else step.recorded

    def decide(self, situation: Situation) -> Decision:
        raise AssertionError("replayed through shortcut")

    def end_stream(self, stream: str) -> None:
        self.i = 0


def best_choice_savings(
    stream: Sequence[Request],
    index: int,
    prices: PriceBook | None = None,
    *,
    with_optimum: bool = True,
) -> Quote:
    """For ``stream[index]`` (requests of one stream and model, in time order): the tier
    that would have cost least with every other request as recorded, and the saving."""
    return quotes(stream, [index], prices, with_optimum=with_optimum)[0]


def quotes(
    stream: Sequence[Request],
    indices: Sequence[int],
    prices: PriceBook | None = None,
    *,
    with_optimum: bool = False,
) -> list[Quote]:
    """``best_choice_savings`` for several requests of one stream, reconstructing it once
    (``with_optimum`` also runs the stream's DP for ``Quote.optimum_tier``)."""
    for index in indices:
        if not 0 <= index < len(stream):
            raise invalid(f"request index {index} outside a stream of {len(stream)}")
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
    horizon = Horizon(steps)
    best_decisions = optimum(steps, rules).decisions if with_optimum else ()

    def cost(index: int, decision: Decision) -> float:
        strategy = _OneChanged(index, decision)
        total, _ = run("quote", rules.family, steps, rules, strategy, horizon)
        return total.total

    out = []
    # Every request as recorded: the same cost whichever index is "changed" to its record.
    base = cost(0, steps[0].recorded) if indices else 0.0
    for index in indices:
        recorded = steps[index].recorded
        best_tier, best = recorded.tier, base
        for tier in actions(rules):
            c = cost(index, Decision(tier))
            if c < best - 1e-12:
                best_tier, best = tier, c
        optimum_tier = best_decisions[index].tier if best_decisions else None
        out.append(Quote(best_tier, base - best, optimum_tier))
    return out


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
    optimum_usd: float
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
    def gap_usd(self) -> float:
        """The most any choice could have saved on this stream."""
        return max(0.0, self.recorded_usd - self.optimum_usd)


def stream_hindsight(
    stream: Sequence[Request],
    prices: PriceBook | None = None,
    *,
    pauses: int = 3,
    prefix: int | None = None,
) -> Hindsight:
    """The recorded cost of a stream (one stream and model, time order), its optimum and
    the mixed-tier choice over its ``pauses`` longest pauses. ``prefix``: assume every
    request's first ``prefix`` tokens repeat (a stream whose usage shows no cache at all,
    so reconstruction cannot see what was shared)."""
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
    if prefix is not None:
        steps = [
            replace(s, prefix=max(s.prefix, prefix), shared=prefix if i else 0)
            for i, s in enumerate(steps)
        ]
    horizon = Horizon(steps)

    def cost(chosen: dict[int, Decision]) -> float:
        total, _ = run("hindsight", rules.family, steps, rules, _Chosen(chosen), horizon)
        return total.total

    best = optimum(steps, rules, trace=False).cost
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
