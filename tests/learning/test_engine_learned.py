"""The learned engine: opt-in, parity when off, fed by plan and record, persisted, rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import racs
from learning.helpers import FakeClock, growing, learned_engine, prompt, run, tiers
from racs.ledger import create_ledger


class TestOptIn:
    def test_unknown_policy_is_invalid_input(self) -> None:
        """Only ``reference`` and ``learned`` exist."""
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(reuse_policy="clairvoyant")
        assert err.value.code == "ERR_INVALID_INPUT"
        assert "reuse_policy" in err.value.message

    def test_default_engine_ignores_cadence(self, clock: FakeClock) -> None:
        """Parity: the reference engine keeps the 5m default however the calls come."""
        engine = racs.create_racs(clock=clock)
        plans = run(engine, clock, [420] * 9)
        assert set(tiers(plans)) == {"5m"}
        assert "learned" not in plans[-1].reasoning.lower()
        assert "learning" not in engine.snapshot()["data"]

    def test_cold_lineage_keeps_the_reference_directives(self, clock: FakeClock) -> None:
        """Before a lineage has a gap, directives and break-even are the reference's."""
        reference = racs.create_racs(clock=clock)
        learned = learned_engine(clock)
        for _ in range(1):
            ours = learned.plan(prompt(reuse={"intervalSeconds": 1200}))
            theirs = reference.plan(prompt(reuse={"intervalSeconds": 1200}))
            assert ours.directives == theirs.directives
            assert ours.break_even == theirs.break_even
            assert ours.reasoning.startswith(theirs.reasoning)
            assert "too few to learn from" in ours.reasoning
            clock.advance(20)

    def test_declared_interval_is_a_prior_of_three_gaps(self, clock: FakeClock) -> None:
        """A declared 7-minute reuse tips 10 s gaps of a growing prompt towards 1h.

        Declared 420 s counts as 3 gaps that never decay; the observed 10 s gaps fade in
        at weight 1, 0.95, ... With the declaration the mid-length mass is 3/(3+2.85) of
        the weight at the first learned call, which pays the hour tier.
        """
        engine = learned_engine(clock)
        plans = []
        for i in range(4):
            plans.append(engine.plan(prompt(history=100 * (i + 1), reuse={"intervalSeconds": 420})))
            clock.advance(10)
        assert "plus the declared 420 s counted as 3" in plans[-1].reasoning
        assert tiers(plans)[-1] == "1h"
        other = learned_engine(FakeClock())
        undeclared = [other.plan(prompt(history=100 * (i + 1))) for i in range(4)]
        assert tiers(undeclared)[-1] == "5m"


class TestFeeding:
    def test_usage_of_a_planned_call_is_not_a_second_use(self, clock: FakeClock) -> None:
        """plan then record of the same prefix key is one call: one gap per call."""
        engine = learned_engine(clock)
        for _ in range(4):
            plan = engine.plan(prompt())
            clock.advance(5)
            engine.record(
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "inputTokens": 10_010,
                    "cacheReadTokens": 10_000,
                    "prefixKey": plan.prefix_key,
                }
            )
            clock.advance(415)
        state = engine.snapshot()["data"]["learning"]
        stream = state["s\x1fanthropic\x1fclaude-sonnet-4-5\x1f"]
        assert stream["n"] == 3  # 4 calls, 3 gaps of 420 s (5 s + 415 s)

    def test_unplanned_usage_teaches_gaps(self, clock: FakeClock) -> None:
        """A host that only records still teaches its stream's cadence."""
        engine = learned_engine(clock)
        for i in range(4):
            engine.record(
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "agentId": "cron",
                    "inputTokens": 10_010,
                    "cacheReadTokens": 0,
                    "timestamp": 1_700_000_000_000 + i * 420_000,
                }
            )
        clock.now = 1_700_000_000_000 + 4 * 420_000
        plan = engine.plan(prompt(agentId="cron"))
        assert "learned from 4 gap(s) between uses of this stream" in plan.reasoning


class TestPersistence:
    def test_snapshot_restores_the_learning(self, clock: FakeClock) -> None:
        """A restored engine decides exactly as the one that learned would have."""
        state = racs.memory_state()
        first = learned_engine(clock, state=state)
        growing(first, clock, [420] * 6)
        first.flush()
        second = learned_engine(clock, state=state)
        clock.advance(420)
        a = first.plan(prompt(history=1600))
        b = second.plan(prompt(history=1600))
        assert a.directives == b.directives
        assert a.reasoning == b.reasoning
        assert tiers([b]) == ["1h"]

    def test_corrupt_learning_section_starts_empty(self, clock: FakeClock) -> None:
        """A bad section degrades to empty; the rest of the snapshot restores."""
        state = racs.memory_state()
        first = learned_engine(clock, state=state)
        run(first, clock, [420] * 6)
        snap = first.snapshot()
        snap["data"]["learning"] = {"x": {"h": {"999": 1.0}}}
        state.save(snap)
        second = learned_engine(clock, state=state)
        assert second.snapshot()["data"]["learning"] == {}
        assert second.plans_created == 7

    def test_ledger_rebuilds_the_learning_on_start(self, clock: FakeClock, tmp_path: Path) -> None:
        """cache.usage records in the ledger warm a fresh engine's lineages."""
        ledger = create_ledger(tmp_path / "ledger.db")
        try:
            writer = racs.create_racs(clock=clock, ledger=ledger)
            for _ in range(5):
                writer.record(
                    {
                        "provider": "anthropic",
                        "model": "claude-sonnet-4-5",
                        "agentId": "cron",
                        "inputTokens": 10_010,
                        "cacheReadTokens": 10_000,
                    }
                )
                clock.advance(420)
            engine = learned_engine(clock, ledger=ledger)
            plan = engine.plan(prompt(agentId="cron"))
            assert "learned from 5 gap(s) between uses of this stream" in plan.reasoning
            # Nothing of this prefix is cached yet: a 1h write (2x) of all 10,000 tokens
            # costs more than a 5m write (1.25x) kept warm by one touch until the next call.
            assert tiers([plan]) == ["5m"]
            assert "kept warm with up to 1 touch(es)" in plan.reasoning
        finally:
            ledger.close()


class TestInvariants:
    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.floats(min_value=0, max_value=200_000),
                st.sampled_from(["anthropic", "google", "openai"]),
                st.floats(min_value=0, max_value=300_000),
            ),
            min_size=1,
            max_size=25,
        )
    )
    def test_any_cadence_plans_within_the_offered_options(
        self, calls: list[tuple[float, str, float]]
    ) -> None:
        """Whatever the gaps, sizes and providers: a plan, tiers the profile offers, a
        resource lifetime among the compared ones, retention the profile allows."""
        models = {"anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-pro", "openai": "gpt-4.1"}
        clock = FakeClock()
        engine = learned_engine(clock)
        for gap, provider, tokens in calls:
            clock.advance(gap)
            plan = engine.plan(prompt(provider=provider, model=models[provider], tokens=tokens))
            for d in plan.directives:
                wire = d.to_dict()
                if wire["kind"] == "breakpoint":
                    assert wire["ttl"] in ("5m", "1h")
                elif wire["kind"] == "resource":
                    assert wire["ttlSeconds"] in (300, 600, 1200, 1800, 3600, 7200, 21600, 86400)
                elif wire["kind"] == "routing-key":
                    assert wire.get("retention") in (None, "24h")
