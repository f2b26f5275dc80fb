"""The 30-minute cache-write tier (OpenAI GPT-5.6+) alongside the 5-minute and 1-hour ones."""

from __future__ import annotations

import pytest

from ledger.helpers import start
from racs.core.errors import RacsError
from racs.ledger import CacheUsageTotal, Ledger

PRICING = {
    # 30m writes cost 1.25x input here: premium (3.75 - 3.0) per million written tokens
    "gpt-5.6": {"inputPerMTok": 3.0, "cacheReadPerMTok": 0.3, "cacheWrite30mPerMTok": 3.75},
    # snake_case spelling
    "gpt-5.6-mini": {"input_per_mtok": 1.0, "cache_write_30m_per_mtok": 2.0},
}


class TestThirtyMinuteTier:
    """cache_write_tokens_30m flows from the calls into runs, stats and usage totals."""

    def test_complete_run_projects_it(self, ledger: Ledger) -> None:
        """The run carries the 30m writes; a run without them reads None like the others."""
        with_tier = start(ledger, provider="openai", model="gpt-5.6")
        ledger.complete_run(
            with_tier, input_tokens=1000, cache_read_tokens=500, cache_write_tokens_30m=300
        )
        without = start(ledger)
        ledger.complete_run(without, input_tokens=10)
        assert ledger.get_run(with_tier).cache_write_tokens_30m == 300  # type: ignore[union-attr]
        assert ledger.get_run(without).cache_write_tokens_30m is None  # type: ignore[union-attr]

    def test_usage_stats_count_it(self, ledger: Ledger) -> None:
        """Tokens, the hit-ratio denominator and uncached tokens all include the 30m tier."""
        run = start(ledger, provider="openai", model="gpt-5.6")
        ledger.complete_run(
            run,
            input_tokens=1000,
            cache_read_tokens=500,
            cache_write_tokens_5m=100,
            cache_write_tokens_30m=300,
        )
        stats = ledger.get_usage_stats(pricing=PRICING)
        assert stats.cache_write_tokens_30m == 300
        # uncached = 1000 - 500 - 100 - 300 = 100; ratio = 500 / (500 + 100 + 300 + 100)
        assert stats.uncached_tokens == 100
        assert stats.cache_hit_ratio == pytest.approx(0.5)
        # saved 500/1e6 * (3.0 - 0.3) = 0.00135; 5m writes priced at input: no premium;
        # 30m premium 300/1e6 * (3.75 - 3.0) = 0.000225
        assert stats.saved_usd == pytest.approx(0.00135)
        assert stats.cache_write_usd == pytest.approx(0.000225)
        assert stats.net_usd == pytest.approx(0.00135 - 0.000225)
        assert stats.by_model[0].cache_write_tokens_30m == 300

    def test_snake_case_price(self, ledger: Ledger) -> None:
        """cache_write_30m_per_mtok is read like cacheWrite30mPerMTok."""
        run = start(ledger, provider="openai", model="gpt-5.6-mini")
        ledger.complete_run(run, input_tokens=2_000_000, cache_write_tokens_30m=1_000_000)
        # premium 1e6/1e6 * (2.0 - 1.0) = 1.0
        assert ledger.get_usage_stats(pricing=PRICING).cache_write_usd == pytest.approx(1.0)

    def test_cache_usage_totals_count_it(self, ledger: Ledger) -> None:
        """Usage records sum the 30m writes; uncached excludes them (whole and partial hours)."""
        ledger.record_cache_usage(
            provider="openai",
            model="gpt-5.6",
            input_tokens=1000,
            cache_read_tokens=400,
            cache_write_tokens_30m=500,
        )
        ledger.record_cache_usage(
            provider="openai", model="gpt-5.6", input_tokens=100, cache_read_tokens=0
        )
        expected = CacheUsageTotal(
            group_key="openai:gpt-5.6",
            provider="openai",
            model="gpt-5.6",
            calls=2,
            hits=1,
            input_tokens=1100,
            cache_read_tokens=400,
            cache_write_tokens_5m=0,
            cache_write_tokens_1h=0,
            uncached_tokens=100 + 100,  # 1000-400-500, 100
            cache_write_tokens_30m=500,
        )
        assert ledger.cache_usage_totals() == [expected]
        # A window with partial hours reads the usage rows instead of the hourly roll-up.
        assert ledger.cache_usage_totals(since=1, until=2**42) == [expected]

    def test_absent_tier_keeps_the_old_payload(self, ledger: Ledger) -> None:
        """A record without 30m writes stores no such key, so its hash is what it was."""
        ledger.record_cache_usage(provider="p", model="m", input_tokens=1, cache_read_tokens=0)
        event = ledger.query_events(type="cache.usage")[0]
        assert "cache_write_tokens_30m" not in event.payload

    def test_rebuild_keeps_it(self, ledger: Ledger) -> None:
        """The 30m tier is replayed from the events like every other field."""
        run = start(ledger)
        ledger.complete_run(run, input_tokens=50, cache_write_tokens_30m=20)
        ledger.record_cache_usage(
            provider="p", model="m", input_tokens=9, cache_read_tokens=0, cache_write_tokens_30m=4
        )
        before = (ledger.get_run(run), ledger.cache_usage_totals(), ledger.get_usage_stats())
        ledger.rebuild()
        assert (
            ledger.get_run(run),
            ledger.cache_usage_totals(),
            ledger.get_usage_stats(),
        ) == before

    def test_negative_is_refused(self, ledger: Ledger) -> None:
        """Like the other counts: ERR_INVALID_INPUT, nothing written."""
        run = start(ledger)
        with pytest.raises(RacsError, match="cache_write_tokens_30m"):
            ledger.complete_run(run, cache_write_tokens_30m=-1)
        with pytest.raises(RacsError, match="cache_write_tokens_30m"):
            ledger.record_cache_usage(
                provider="p",
                model="m",
                input_tokens=1,
                cache_read_tokens=0,
                cache_write_tokens_30m=-1,
            )
        assert ledger.get_run(run).event_count == 1  # type: ignore[union-attr]
