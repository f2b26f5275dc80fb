"""The cache model by hand: TTL boundary, refresh on read, suffix writes, steps, minimum."""

from __future__ import annotations

from racs.core.cache import EMPTY, PESSIMISTIC, rules_for, serve, warm
from racs.core.catalog import default_profile_of
from racs.replay.steps import Step

ANTHROPIC = rules_for(default_profile_of("anthropic", "claude-sonnet-4-5"))  # minimum 1024
OPENAI = rules_for(default_profile_of("openai", "gpt-4.1"))


def step(t_s: float, prefix: int, shared: int, external: int = 0) -> Step:
    return Step(t_s * 1000, prefix, shared, prefix + 1, external=external)


class TestBreakpoint:
    def test_reads_the_live_prefix_and_writes_the_suffix(self) -> None:
        """5000 written at 0 s; at 100 s a 7000 prompt reads 5000 and writes 2000."""
        state, first = serve(EMPTY, step(0, 5000, 0), "5m", ANTHROPIC)
        assert (first.read, first.written) == (0, 5000)
        state, second = serve(state, step(100, 7000, 5000), "5m", ANTHROPIC)
        assert (second.read, second.written) == (5000, 2000)
        assert [e[0] for e in state] == [5000, 7000]

    def test_ttl_boundary_is_inclusive_and_reads_refresh(self) -> None:
        """Read at exactly 300 s keeps it; the refresh carries it to 600 s; 600.001 s misses."""
        state, _ = serve(EMPTY, step(0, 5000, 0), "5m", ANTHROPIC)
        state, at_300 = serve(state, step(300, 5000, 5000), None, ANTHROPIC)
        assert at_300.read == 5000
        state, at_600 = serve(state, step(600, 5000, 5000), None, ANTHROPIC)
        assert at_600.read == 5000
        _, late = serve(state, step(900.001, 5000, 5000), None, ANTHROPIC)
        assert late.read == 0

    def test_below_the_minimum_nothing_is_cached(self) -> None:
        """A 1000-token prefix under the 1024 minimum writes nothing."""
        state, served = serve(EMPTY, step(0, 1000, 0), "1h", ANTHROPIC)
        assert served.written == 0 and state == ()

    def test_a_cut_prompt_cannot_read_the_longer_entry(self) -> None:
        """After a compaction sharing 2000 tokens, the 5000 entry is not a prefix."""
        state, _ = serve(EMPTY, step(0, 5000, 0), "5m", ANTHROPIC)
        _, served = serve(state, step(10, 3000, 2000), "5m", ANTHROPIC)
        assert (served.read, served.written) == (0, 3000)

    def test_external_read_is_offered(self) -> None:
        """A read kept warm elsewhere counts; the step writes only past it."""
        _, served = serve(EMPTY, step(0, 9000, 0, external=6000), "5m", ANTHROPIC)
        assert (served.read, served.written) == (6000, 3000)

    def test_keep_warm_touches_at_expiry(self) -> None:
        """Gap of 700 s after a 5m write: touches at 300 and 600 s keep it alive."""
        state, _ = serve(EMPTY, step(0, 5000, 0), "5m", ANTHROPIC)
        state, touches, tokens = warm(state, ANTHROPIC, 700_000, float("inf"))
        assert (touches, tokens) == (2, 5000)
        assert state[-1][1] == 900_000

    def test_pessimistic_evicts_early(self) -> None:
        """Pessimistic 5m lives 240 s: a read at 250 s misses."""
        rules = rules_for(default_profile_of("anthropic", "claude-sonnet-4-5"), PESSIMISTIC)
        state, _ = serve(EMPTY, step(0, 5000, 0), "5m", rules)
        _, served = serve(state, step(250, 5000, 5000), "5m", rules)
        assert served.read == 0


class TestRoutingKey:
    def test_reads_in_128_token_steps_and_writes_free(self) -> None:
        """A 5000-token prefix is cached as 4992 (39 x 128); in-memory lives 10 min idle."""
        state, first = serve(EMPTY, step(0, 5000, 0), None, OPENAI)
        assert first.written == 4992 and first.rule is not None
        assert first.rule.billed_as is None
        _, second = serve(state, step(599, 5000, 5000), None, OPENAI)
        assert second.read == 4992

    def test_in_memory_dies_after_an_hour_whatever_the_reads(self) -> None:
        """Read every 9 minutes, the in-memory entry still dies 60 min after its write."""
        state, _ = serve(EMPTY, step(0, 5000, 0), "in_memory", OPENAI)
        t = 0
        while t + 540 <= 3600:
            t += 540
            state, served = serve(state, step(t, 5000, 5000), "in_memory", OPENAI)
            assert served.read == 4992
        _, late = serve(state, step(3601, 5000, 5000), "in_memory", OPENAI)
        assert late.read == 0


class TestOtherFamilies:
    def test_gpt_5_6_explicit_breakpoints_write_30m(self) -> None:
        """GPT-5.6+: a breakpoint provider whose one tier is 30m, billed as a 30m write."""
        rules = rules_for(default_profile_of("openai", "gpt-5.6"))
        assert rules.family == "breakpoint" and rules.options == ("30m",)
        state, served = serve(EMPTY, step(0, 5000, 0), "30m", rules)
        assert served.rule is not None and served.rule.billed_as == "30m"
        _, again = serve(state, step(1800, 5000, 5000), None, rules)
        assert again.read == 5000

    def test_gemini_explicit_cache_resends_the_prefix_and_reads_do_not_extend(self) -> None:
        """An explicit 5m cached content: created from the whole prefix; read at 200 s;
        the read does not refresh it, so at 301 s it is gone."""
        from racs.replay.costs import storage_of

        rules = rules_for(default_profile_of("google", "gemini-2.5-pro"))
        state, created = serve(EMPTY, step(0, 5000, 0), "explicit-5m", rules)
        assert (created.read, created.written) == (0, 5000)
        assert storage_of(created) == 5000 * 300 / 3600  # token-hours for the whole TTL
        state, read = serve(state, step(200, 5000, 5000), None, rules)
        assert read.read == 5000
        _, late = serve(state, step(301, 5000, 5000), None, rules)
        assert late.read == 0
