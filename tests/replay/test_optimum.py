"""The hindsight optimum: exact against brute force, never above any strategy."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from racs.core.accounting import Rates
from racs.core.cache import EMPTY, PESSIMISTIC, State, rules_for, serve, warm
from racs.core.catalog import default_profile_of
from racs.replay.costs import step_cost, unit_of
from racs.replay.optimum import actions, optimum, touch_cap
from racs.replay.simulate import run
from racs.replay.steps import Horizon, Step
from racs.replay.strategies import Decision, make

RATES = Rates(input=5.0, read=0.5, write_5m=6.25, write_30m=6.25, write_1h=10.0, output=25.0)
GEMINI = Rates(
    input=1.25, read=0.125, write_5m=1.25, write_30m=1.25, write_1h=1.25, storage_per_mtok_hour=4.5
)
RULES = {
    "anthropic": rules_for(default_profile_of("anthropic", "claude-sonnet-4-5")),
    "anthropic-pessimistic": rules_for(
        default_profile_of("anthropic", "claude-sonnet-4-5"), PESSIMISTIC
    ),
    "openai": rules_for(default_profile_of("openai", "gpt-4.1")),
    "google": rules_for(default_profile_of("google", "gemini-2.5-pro")),
}
# Gaps around every TTL boundary (5m, 10m, 30m, 1h) and beyond.
GAPS_S = st.sampled_from([1, 60, 240, 299, 300, 301, 599, 600, 900, 1800, 3599, 3600, 3601, 7200])


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[Step]]:
    """A small stream: growing prompts, sometimes cut back, sometimes an external read."""
    family = draw(st.sampled_from(sorted(RULES)))
    rates = GEMINI if family == "google" else RATES
    n = draw(st.integers(1, 4))
    t = 0.0
    prefix = 0
    steps = []
    for i in range(n):
        if i:
            t += draw(GAPS_S) * 1000
        grow = draw(st.integers(0, 6000))
        cut = i > 0 and draw(st.booleans()) and draw(st.booleans())
        shared = draw(st.integers(0, prefix)) if cut else prefix
        new_prefix = max(shared, (shared if cut else prefix) + grow)
        external = draw(st.sampled_from([0, 0, 0, 1500, new_prefix]))
        external = min(external, new_prefix)
        steps.append(
            Step(
                t_ms=t,
                prefix=new_prefix,
                shared=min(shared, new_prefix),
                input=new_prefix + 3,
                output=10,
                external=external,
                rates=rates,
                miss=family.endswith("pessimistic") and draw(st.booleans()),
            )
        )
        prefix = new_prefix
    return family, steps


def brute_force(steps: list[Step], family: str) -> float:
    """Every decision sequence, every keep-warm choice, no state merging or pruning."""
    rules = RULES[family]
    tiers = actions(rules)
    best = math.inf

    def go(i: int, state: State, cost: float) -> None:
        nonlocal best
        if i == len(steps):
            best = min(best, cost)
            return
        step = steps[i]
        unit = unit_of(step.rates)
        starts = [(state, cost)]
        if i > 0:
            warmed, touches, tokens = warm(state, rules, step.t_ms, math.inf)
            if 0 < touches <= touch_cap(unit):
                starts.append((warmed, cost + touches * tokens * unit.read))
        for start, base in starts:
            for tier in tiers:
                after, served = serve(start, step, tier, rules)
                go(i + 1, after, base + step_cost(step, served, unit))

    go(0, EMPTY, 0.0)
    return best


class Replaying:
    """A fixed list of decisions, as a strategy."""

    name = "fixed-list"

    def __init__(self, decisions: tuple[Decision, ...]) -> None:
        self.decisions = list(decisions)

    def shortcut(self, step: Step, options: object) -> Decision:
        return self.decisions.pop(0)

    def decide(self, situation: object) -> Decision:
        raise AssertionError

    def end_stream(self, stream: str) -> None:
        pass


class TestAgainstBruteForce:
    @settings(max_examples=2500, deadline=None)
    @given(streams())
    def test_dp_equals_brute_force(self, case: tuple[str, list[Step]]) -> None:
        """The DP's minimum is the minimum over every decision sequence."""
        family, steps = case
        best = optimum(steps, RULES[family])
        assert math.isclose(best.cost, brute_force(steps, family), rel_tol=1e-9, abs_tol=1e-12)

    @settings(max_examples=500, deadline=None)
    @given(streams())
    def test_decisions_replay_to_the_optimum(self, case: tuple[str, list[Step]]) -> None:
        """The optimum's decisions, replayed and priced with cost_of, cost its minimum."""
        family, steps = case
        rules = RULES[family]
        best = optimum(steps, rules)
        cost, _ = run("s", rules.family, steps, rules, Replaying(best.decisions), Horizon(steps))
        assert math.isclose(cost.total, best.cost, rel_tol=1e-9, abs_tol=1e-12)

    @settings(max_examples=500, deadline=None)
    @given(streams())
    def test_never_above_a_strategy(self, case: tuple[str, list[Step]]) -> None:
        """No built-in strategy beats the optimum."""
        family, steps = case
        rules = RULES[family]
        best = optimum(steps, rules).cost
        for name in ("recorded", "none", "5m", "1h", "racs", "racs@300"):
            cost, _ = run("s", rules.family, steps, rules, make(name), Horizon(steps))
            assert best <= cost.total + 1e-12, name


class TestExamples:
    def test_keep_warm_through_a_long_gap(self) -> None:
        """A 20k prefix, 12 minutes of silence, then the same prefix again: two touches at
        5m expiry (0.5 USD/MTok each) beat writing it again.

        5m write then keep warm: 20000 x 6.25e-6 = 0.125 write, touches 2 x 20000 x 0.5e-6 =
        0.02, read 20000 x 0.5e-6 = 0.01 -> 0.155 (+ 3 fresh tokens x 2 x 5e-6).
        Without: write 0.125 then a second 5m write 0.125 -> 0.25; no cache: 2 x 0.1 = 0.2.
        """
        rules = RULES["anthropic"]
        steps = [
            Step(0, 20000, 0, 20003, rates=RATES),
            Step(720_000, 20000, 20000, 20003, rates=RATES),
        ]
        best = optimum(steps, rules)
        assert math.isclose(best.cost, 0.125 + 0.02 + 0.01 + 6 * 5e-6)
        assert best.decisions[0] == Decision("5m", 720.0)
