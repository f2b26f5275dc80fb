"""Quote the hindsight for one request: "a 1h write here would have saved $0.47"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racs.core.cache import rules_for
from racs.core.catalog import default_profile_of
from racs.core.errors import invalid
from racs.core.prices import PriceBook
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
    for index in indices:
        recorded = steps[index].recorded
        base = cost(index, recorded)
        best_tier, best = recorded.tier, base
        for tier in actions(rules):
            c = cost(index, Decision(tier))
            if c < best - 1e-12:
                best_tier, best = tier, c
        optimum_tier = best_decisions[index].tier if best_decisions else None
        out.append(Quote(best_tier, base - best, optimum_tier))
    return out
