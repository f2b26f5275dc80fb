"""Causes and prices of misses, from usage alone, on a hand-made stream."""

from __future__ import annotations

import pytest

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.report.build import Filters, build_report
from racs.traffic.model import Request
from racs.traffic.problems import Problems

# USD per MTok: input 10, read 1, 5m write 12.5, 1h write 20, output 50.
CARD = Pricing(
    input_per_mtok=10,
    cache_read_per_mtok=1,
    cache_write_5m_per_mtok=12.5,
    cache_write_1h_per_mtok=20,
    output_per_mtok=50,
)
T0 = 1_770_000_000_000


def _r(t_s: float, tokens: Tokens, model: str = "m", stream: str = "s") -> Request:
    return Request(T0 + t_s * 1000, "anthropic", model, tokens, "sess", stream)


def _prices() -> PriceBook:
    return PriceBook({"m": CARD, "m2": CARD}, database=False)


STREAM = [
    _r(0, Tokens(fresh=10, write_5m=10_000)),  # cold start
    _r(60, Tokens(fresh=10, read=10_000, write_5m=500)),  # extends the prefix: fine
    _r(460, Tokens(fresh=10, write_5m=11_000)),  # 400 s later: the 5m entry expired
    _r(490, Tokens(fresh=10, write_5m=11_200), model="m2"),  # another model: no cache
    _r(520, Tokens(fresh=10, read=11_000, write_5m=300)),  # back on m, within its TTL
]


class TestCauses:
    def test_each_cause_and_its_price(self) -> None:
        report = build_report(iter(STREAM), _prices(), Problems())
        found = {(f.cause, f.request.timestamp_ms): f for f in report.findings}
        cold = found[("cold_start", T0)]
        assert cold.excess_tokens == 10_000
        assert cold.usd == pytest.approx(10_000 * (12.5 - 1) / 1e6)
        expiry = found[("expiry", T0 + 460_000)]
        # cached before: 10,000 read + 500 written = 10,500; the input 11,010 has a new
        # suffix of 510, so 11,010 paid - 510 = 10,500 tokens paid at 12.5 instead of 1.
        assert expiry.excess_tokens == 10_500
        assert expiry.usd == pytest.approx(10_500 * 11.5 / 1e6)
        assert "6m 40s gap (TTL 5m)" in expiry.detail
        # 1h writes cost (20 - 12.5) / MTok more on the 10,500 cached tokens: $0.07875,
        # and $0.12075 was lost: both exact halves, shown rounded half to even in decimal.
        assert expiry.action == (
            "write this stream at the 1h tier: on its 10,500-token prefix that costs "
            "$0.0788 more per write, against $0.1208 lost here"
        )
        switch = found[("model_switch", T0 + 490_000)]
        # m held 11,000; on m2 the input 11,210 had 210 new: 11,000 written again.
        assert switch.excess_tokens == 11_000
        assert "m -> m2" in switch.detail
        assert switch.action.startswith("keep m for this conversation")
        assert len(report.findings) == 3
        assert [c for c in report.causes] == ["model_switch", "expiry", "cold_start"]

    def test_prefix_efficiency(self) -> None:
        """Read back: 10,000 (by the 2nd call) and 11,000 (by the 5th, 60 s after the
        3rd on model m); the 500, the m2 write and the last 300 never are."""
        report = build_report(iter(STREAM), _prices(), Problems())
        stream = report.by["stream"]["s"]
        assert stream.tokens.writes == 33_000
        assert stream.read_back == 21_000
        assert stream.prefix_efficiency == pytest.approx(21_000 / 33_000)

    def test_below_minimum(self) -> None:
        prices = _prices()
        profile = prices.profile("anthropic", "m")
        assert profile is not None and profile.min_cacheable_tokens is not None
        small = profile.min_cacheable_tokens - 1
        report = build_report(iter([_r(0, Tokens(fresh=small))]), prices, Problems())
        [f] = report.findings
        assert f.cause == "below_minimum"
        assert f.usd == pytest.approx(small * (10 - 1) / 1e6)

    def test_tier_choice(self) -> None:
        """1h writes on a stream whose gaps stay under 5 minutes: the premium over 5m
        writes, (20 - 12.5) per MTok on 3,000 tokens, is the price."""
        calls = [
            _r(0, Tokens(read=0, write_1h=2_000)),
            _r(30, Tokens(read=2_000, write_1h=1_000)),
        ]
        report = build_report(iter(calls), _prices(), Problems())
        tier = [f for f in report.findings if f.cause == "tier_choice"]
        assert len(tier) == 1
        assert tier[0].usd == pytest.approx(3_000 * 7.5 / 1e6)


class TestUnpriced:
    def test_an_unknown_model_is_counted_in_tokens_and_named(self) -> None:
        calls = [_r(0, Tokens(fresh=5, write_5m=5_000), model="mystery"), *STREAM[:2]]
        report = build_report(iter(calls), _prices(), Problems())
        assert report.unpriced_models == ["mystery"]
        assert report.total.requests == 3 and report.total.unpriced == 1
        assert report.total.tokens.write_5m == 15_500
        mystery = [f for f in report.findings if f.request.model == "mystery"]
        assert [f.usd for f in mystery] == [None]
        assert report.findings[-1] is mystery[0]  # unpriced findings rank last

    def test_filters_exclude_before_anything_is_counted(self) -> None:
        report = build_report(iter(STREAM), _prices(), Problems(), Filters(until_ms=T0 + 100_000))
        assert report.total.requests == 2
