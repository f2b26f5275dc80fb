"""Synthetic cadences whose right answer is known, planned by a learned engine."""

from __future__ import annotations

import pytest

from learning.helpers import FakeClock, growing, learned_engine, prompt, run, tiers
from racs.core.model import NoneDirective, ResourceDirective, RoutingKeyDirective


class TestBreakpointCadences:
    def test_cron_every_seven_minutes_pays_for_the_hour_tier(self, clock: FakeClock) -> None:
        """Every 7 minutes the 5m entry is gone. After the first such gap the hedge bridges
        the next one with a keep-warm touch; once that touch has saved a rewrite, the 1h
        premium on the 200 new tokens is affordable and cheaper than a touch per gap."""
        plans = growing(learned_engine(clock), clock, [420] * 9)
        assert tiers(plans) == ["5m", "5m"] + ["1h"] * 8
        assert "kept warm with up to 1 touch(es)" in plans[1].reasoning
        # Steady state, 12,000 tokens, 200 new: this call reads 11,800 (0.3 USD/MTok) and
        # writes 200 at 1h (6), the next use reads 12,000: 0.00354 + 0.0012 + 0.0036.
        # 5m: 0.00354 + 200 x 3.75e-6 + a touch at 270 s and a read (2 x 0.0036) = 0.01149.
        # No write: both calls pay input, 2 x 12,000 x 3 / 1e6 = 0.072.
        reasoning = plans[-1].reasoning
        assert "tier 1h" in reasoning
        assert "1h 0.00834 USD" in reasoning
        assert "5m 0.01149 USD with up to 1 keep-warm touch(es)" in reasoning
        assert "no write 0.072 USD" in reasoning
        assert "learned from 9 gap(s) between uses of this stream" in reasoning
        assert "0% within 5m, 100% within 30m, 100% within 1h" in reasoning

    def test_a_fixed_prompt_keeps_its_entry_tier(self, clock: FakeClock) -> None:
        """A cron whose prompt never grows writes nothing after its first call: the entry it
        reads keeps the tier it was written with (the cache model's read refreshes it), so
        the policy keeps the 5m entry warm with one touch per gap instead of relabelling it."""
        plans = run(learned_engine(clock), clock, [420] * 9)
        assert set(tiers(plans)) == {"5m"}
        assert "kept warm with up to 1 touch(es)" in plans[-1].reasoning
        assert "; 1h " not in plans[-1].reasoning  # not weighed: it would write nothing

    def test_bursts_seconds_apart_stay_on_five_minutes(self, clock: FakeClock) -> None:
        """Calls 10 s apart always find the 5m entry: the cheaper write wins the tie."""
        plans = run(learned_engine(clock), clock, [10] * 29)
        assert set(tiers(plans)) == {"5m"}
        assert "100% within 5m" in plans[-1].reasoning

    def test_bursts_with_twenty_minute_pauses_take_the_hour(self, clock: FakeClock) -> None:
        """Bursts of 5 calls 10 s apart, 20 minutes between bursts, a growing prompt.

        The first pause is paid (nothing said it would come); the next is bridged with
        keep-warm touches (a 5m write plus 4 touches 270 s apart, cheaper than rewriting at
        1h); once bridging has paid, the 1h premium on each small write is affordable and
        survives every later pause without touches."""
        gaps = ([10] * 4 + [1200]) * 4
        got = tiers(plans := growing(learned_engine(clock), clock, gaps, 100))
        assert got[:10] == ["5m"] * 10
        assert "kept warm with up to 4 touch(es)" in plans[5].reasoning
        assert got[10:] == ["1h"] * (len(plans) - 10)

    def test_nightly_job_does_not_cache(self, clock: FakeClock) -> None:
        """A daily run outlives every tier: no write, and a write-premium trap finding."""
        plans = run(learned_engine(clock), clock, [86_400] * 5)
        assert tiers(plans)[3:] == [None, None, None]
        last = plans[-1]
        assert isinstance(last.directives[0], NoneDirective)
        assert [f.code for f in last.findings] == ["write-premium-trap"]
        # 10,000 tokens: 5m writes now and again tomorrow (2 x 0.0375); no write pays input
        # twice (2 x 0.03 = 0.06); 1h writes twice at 0.06 each = 0.12.
        assert "no write 0.06 USD" in last.reasoning
        assert "5m 0.075 USD" in last.reasoning
        assert "1h 0.12 USD" in last.reasoning

    def test_cadence_drifting_from_seconds_to_minutes(self, clock: FakeClock) -> None:
        """30 s gaps (5m), then 7 minute gaps: the hour tier within two calls of the change."""
        got = tiers(growing(learned_engine(clock), clock, [30] * 20 + [420] * 10))
        assert set(got[:22]) == {"5m"}
        assert got[22:] == ["1h"] * 9

    def test_cadence_drifting_back_with_a_growing_prompt(self, clock: FakeClock) -> None:
        """7 minute gaps, then 30 s gaps while the history grows 200 tokens a call.

        The hour tier costs 0.75 x input more per new token; once the 7-minute gaps have
        faded (each new gap multiplies old weights by 0.95), 5m wins again.
        """
        engine = learned_engine(clock)
        got = []
        for i in range(70):
            plan = engine.plan(prompt(history=200 * (i + 1)))
            got.append(tiers([plan])[0])
            clock.advance(420 if i < 10 else 30)
        assert got[5:11] == ["1h"] * 6
        assert got[11:14] == ["1h"] * 3  # old gaps still weigh: the switch is gradual
        assert got[-10:] == ["5m"] * 10
        switch = got.index("5m", 11)
        assert got[switch:] == ["5m"] * (70 - switch)


class TestLineages:
    def test_interleaved_prompts_learn_their_own_gaps(self, clock: FakeClock) -> None:
        """One agent alternating two prompts 10 s apart, each prompt every 7 minutes: the
        stream sees 10 s and 410 s gaps, each prefix its own 420 s ones."""
        engine = learned_engine(clock)
        plans = []
        for _ in range(6):
            plans.append(engine.plan(prompt(tokens=10_000, agentId="a")))
            clock.advance(10)
            engine.plan(prompt(tokens=10_000, history=5_000, agentId="a"))
            clock.advance(410)
        last = plans[-1]
        assert "learned from 5 gap(s) between uses of this prefix" in last.reasoning
        assert "0% within 5m, 100% within 30m" in last.reasoning
        assert tiers([last]) == ["1h"]


class TestKeepWarm:
    def test_five_minute_only_model_keeps_a_cron_warm_with_one_touch(
        self, clock: FakeClock
    ) -> None:
        """Only 5m offered, calls every 7 min: one touch (a read) beats a rewrite."""
        engine = learned_engine(clock, profiles={"anthropic": {"ttls": ["5m"]}})
        plans = run(engine, clock, [420] * 5)
        assert "kept warm with up to 1 touch(es)" in plans[-1].reasoning
        key = plans[-1].prefix_key
        start = clock.now
        due = engine.schedule(start + 270_000)  # 0.9 x 300 s after the plan
        assert [e.prefix_key for e in due] == [key]
        assert engine.mark_refreshed(key, start + 270_000)
        assert engine.schedule(start + 540_000) == ()  # the budget of one touch is spent

    def test_reference_engine_schedules_without_limit(self, clock: FakeClock) -> None:
        """Parity: the default engine keeps scheduling touches as the spec says."""
        import racs

        engine = racs.create_racs(clock=clock)
        plan = engine.plan(prompt())
        start = clock.now
        assert len(engine.schedule(start + 270_000)) == 1
        engine.mark_refreshed(plan.prefix_key, start + 270_000)
        assert len(engine.schedule(start + 540_000)) == 1


class TestOtherFamilies:
    def test_gemini_every_ten_minutes_gets_a_ten_minute_resource(self, clock: FakeClock) -> None:
        """Storage 4.5 USD/MTok-hour: the shortest lifetime that still covers the gap."""
        plans = run(
            learned_engine(clock),
            clock,
            [600] * 5,
            provider="google",
            model="gemini-2.5-pro",
            tokens=100_000,
        )
        directive = plans[-1].directives[0]
        assert isinstance(directive, ResourceDirective)
        assert directive.ttl_seconds == 600
        # The 600 s gaps fall in the bin whose middle is 300 x 2^(11.5/12) = 582.997 s.
        # The cache model bills storage for the whole lifetime: 600 s covers the gap,
        # (read 0.125 + storage 4.5 x 600 / 3600) USD/MTok x 0.1 MTok = 0.0875; 300 s does
        # not: input 1.25 + storage 4.5 x 300 / 3600 -> 0.1625.
        assert "300s 0.1625 USD; 600s 0.0875 USD" in plans[-1].reasoning

    def test_gemini_nightly_does_not_create(self, clock: FakeClock) -> None:
        """A day between uses: no lifetime pays its storage; no resource."""
        plans = run(
            learned_engine(clock),
            clock,
            [86_400] * 4,
            provider="google",
            model="gemini-2.5-pro",
            tokens=100_000,
        )
        assert isinstance(plans[-1].directives[0], NoneDirective)
        assert "storage would not pay back" in plans[-1].reasoning

    @pytest.mark.parametrize(("gap", "retention"), [(1200, "24h"), (30, None)])
    def test_openai_retention_follows_the_gaps(
        self, clock: FakeClock, gap: float, retention: str | None
    ) -> None:
        """24h retention (free) exactly when gaps outlast in-memory retention."""
        plans = run(learned_engine(clock), clock, [gap] * 4, provider="openai", model="gpt-4.1")
        directive = plans[-1].directives[0]
        assert isinstance(directive, RoutingKeyDirective)
        assert directive.retention == retention
