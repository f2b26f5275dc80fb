"""The accounting module: token classes, the missing-price rule, dollars, the price book."""

from __future__ import annotations

import pytest

import racs
from racs.core.accounting import (
    Cost,
    Tokens,
    cost_of,
    parse_pricing,
    parse_pricing_table,
    rates_of,
    storage_usd,
    uncached,
)
from racs.core.prices import PriceBook, database_available, default_profile_of
from racs.core.profiles import SHIPPED_PROFILES
from racs.core.tiers import TIER, TIERS, TTL_SECONDS, seconds_of

ANTHROPIC = SHIPPED_PROFILES["anthropic"]
needs_db = pytest.mark.skipif(not database_available(), reason="the prices extra is missing")


class TestTiers:
    def test_table(self) -> None:
        """One table: seconds, reference multipliers and field names per tier."""
        assert [(t.name, t.seconds, t.write_multiplier) for t in TIERS] == [
            ("5m", 300, 1.25),
            ("30m", 1800, 1.25),
            ("1h", 3600, 2.0),
        ]
        assert TIER["30m"].usage_field == "cache_write_tokens_30m"
        assert TIER["1h"].wire_field == "cacheWriteTokens1h"
        assert TIER["5m"].price_field == "cache_write_5m_per_mtok"
        assert TTL_SECONDS == {"5m": 300, "30m": 1800, "1h": 3600}

    def test_unknown_tier_is_five_minutes(self) -> None:
        assert seconds_of("2h") == 300
        assert seconds_of("2h", default=0) == 0


class TestTokens:
    def test_uncached_is_all_in_minus_the_rest(self) -> None:
        # 10,000 all-in - 6,000 read - 1,000 - 500 - 250 written = 2,250 fresh
        assert uncached(10_000, 6_000, 1_000, 500, 250) == 2_250
        assert uncached(100, 80, 40) == 0  # never negative

    def test_all_in(self) -> None:
        t = Tokens.all_in(10_000, 6_000, {"5m": 1_000, "1h": 250, "30m": 500}, output=7)
        assert (t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, t.output) == (
            2_250,
            6_000,
            1_000,
            500,
            250,
            7,
        )
        assert t.input == 10_000 and t.writes == 1_750
        assert (t + t).input == 20_000


class TestMissingPriceRule:
    def test_input_price_only_reads_at_the_profile_multiplier(self) -> None:
        """Issue 12, first case: a card with only the input price, 1M cache reads.

        The read price is derived from Anthropic's 0.1x: saved = 1M x (3 - 0.3) / 1M = 2.70.
        """
        rates = rates_of(parse_pricing({"inputPerMTok": 3}), ANTHROPIC)
        assert rates.read == pytest.approx(0.3)
        assert cost_of(Tokens(read=1_000_000), rates).saved == pytest.approx(2.7)

    def test_card_write_prices_win_over_the_profile(self) -> None:
        """Issue 12, second case: (4.5 - 3) x 1 + (9 - 3) x 1 = 7.5, not the profile's 3.75."""
        table = parse_pricing_table(
            {"m": {"inputPerMTok": 3, "cacheWrite5mPerMTok": 4.5, "cacheWrite1hPerMTok": 9}}
        )
        rates = rates_of(table["m"], ANTHROPIC)
        cost = cost_of(Tokens(write_5m=1_000_000, write_1h=1_000_000), rates)
        assert cost.write_premium == pytest.approx(7.5)
        assert (cost.write_5m, cost.write_1h) == (pytest.approx(4.5), pytest.approx(9.0))

    def test_write_below_input_costs_no_premium(self) -> None:
        rates = rates_of(parse_pricing({"inputPerMTok": 3, "cacheWrite5mPerMTok": 2}), ANTHROPIC)
        assert cost_of(Tokens(write_5m=1_000_000), rates).write_premium == 0.0

    def test_no_multiplier_no_discount(self) -> None:
        """A profile that knows no multiplier: reads and writes at the input price."""
        rates = rates_of(parse_pricing({"inputPerMTok": 2}), SHIPPED_PROFILES["ollama"])
        assert (rates.read, rates.write_5m, rates.write_1h) == (2, 2, 2)
        rates = rates_of(parse_pricing({"inputPerMTok": 2}), None)
        assert rates.read == 2

    def test_cost_by_class(self) -> None:
        """2,250 fresh x 3 + 6,000 x 0.3 + 1,000 x 3.75 + 250 x 6 + 100 out x 15, per MTok."""
        card = {
            "inputPerMTok": 3,
            "cacheReadPerMTok": 0.3,
            "cacheWrite5mPerMTok": 3.75,
            "cacheWrite1hPerMTok": 6,
            "outputPerMTok": 15,
        }
        rates = rates_of(parse_pricing(card), ANTHROPIC)
        cost = cost_of(Tokens.all_in(9_500, 6_000, {"5m": 1_000, "1h": 250}, output=100), rates)
        assert cost.fresh == pytest.approx(0.00675)
        assert cost.read == pytest.approx(0.0018)
        assert cost.write_5m == pytest.approx(0.00375)
        assert cost.write_1h == pytest.approx(0.0015)
        assert cost.output == pytest.approx(0.0015)
        assert cost.total == pytest.approx(0.0153)
        # saved 6,000 x 2.7 = 0.0162; premium 1,000 x 0.75 + 250 x 3 = 0.0015
        assert cost.net == pytest.approx(0.0162 - 0.0015)
        assert (cost + Cost()).total == pytest.approx(cost.total)
        assert cost.to_dict()["write1hUsd"] == pytest.approx(0.0015)

    def test_storage(self) -> None:
        # 2M tokens for 30 minutes at 4.5 per MTok-hour = 2 x 0.5 x 4.5
        assert storage_usd(2_000_000, 1800, 4.5) == pytest.approx(4.5)
        assert storage_usd(2_000_000, 1800, None) == 0.0

    @pytest.mark.parametrize("bad", [-1, float("inf"), float("nan"), "3", True])
    def test_bad_prices_are_refused(self, bad: object) -> None:
        with pytest.raises(racs.RacsError, match="inputPerMTok"):
            parse_pricing({"inputPerMTok": bad})


class TestPriceBook:
    def test_the_card_wins(self) -> None:
        book = PriceBook({"claude-sonnet-4-5": parse_pricing({"inputPerMTok": 100})})
        rates = book.rates("anthropic", "claude-sonnet-4-5")
        assert rates is not None and rates.input == 100 and rates.source == "pricing"

    def test_unknown_model_is_unpriced_and_named(self) -> None:
        book = PriceBook()
        assert book.rates("custom", "my-own-model") is None
        assert book.unpriced() == ["my-own-model"]

    def test_without_database_only_cards_price(self) -> None:
        book = PriceBook(database=False)
        assert book.rates("anthropic", "claude-sonnet-4-5") is None

    @needs_db
    def test_database_prices_out_of_the_box(self) -> None:
        """Claude Sonnet 4.5 list prices: 3 input, 0.3 read, 3.75 5m, 6 1h, 15 output."""
        rates = PriceBook().rates("anthropic", "claude-sonnet-4-5", timestamp_ms=1.76e12)
        assert rates is not None and rates.source == "genai-prices"
        assert (rates.input, rates.read, rates.write_5m, rates.write_1h, rates.output) == (
            3.0,
            0.3,
            3.75,
            6.0,
            15.0,
        )

    @needs_db
    def test_long_context_tier(self) -> None:
        """Above 200k input tokens every Sonnet 4.5 rate doubles (the whole request)."""
        book = PriceBook()
        at = book.rates("anthropic", "claude-sonnet-4-5", input_tokens=200_000)
        above = book.rates("anthropic", "claude-sonnet-4-5", input_tokens=200_001)
        assert at is not None and above is not None
        assert (at.input, above.input, above.read, above.write_1h) == (3.0, 6.0, 0.6, 12.0)

    def test_default_profile(self) -> None:
        profile = default_profile_of("openai", "gpt-5.6")
        assert profile is not None and profile.ttls == ("30m",)
        assert default_profile_of("nobody", "x") is None


class TestDatedModelIds:
    def test_a_card_for_the_undated_name_prices_a_dated_id(self) -> None:
        """Issue 26: a card keyed ``claude-sonnet-4-5`` prices ``claude-sonnet-4-5-20250929``
        (OpenTelemetry spans and SDK responses name the dated snapshot); its own card wins."""
        from racs.core.accounting import parse_pricing_table
        from racs.core.prices import PriceBook

        table = parse_pricing_table(
            {
                "claude-sonnet-4-5": {"inputPerMTok": 3},
                "claude-haiku-4-5-20251001": {"inputPerMTok": 1},
                "claude-haiku-4-5": {"inputPerMTok": 99},
            }
        )
        book = PriceBook(table, database=False)
        dated = book.rates("anthropic", "claude-sonnet-4-5-20250929")
        assert dated is not None and dated.input == 3
        # A million reads save 3 x (1 - 0.1) = 2.70 USD, as for the undated name.
        from racs.core.accounting import Tokens, cost_of

        assert cost_of(Tokens(read=1_000_000), dated).saved == pytest.approx(2.70)
        own = book.rates("anthropic", "claude-haiku-4-5-20251001")
        assert own is not None and own.input == 1
        assert book.rates("anthropic", "claude-opus-4-1") is None
