"""The gap learner and the policy's arithmetic, without an engine."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racs.core.accounting import MTOK, Rates, Tokens, cost_of
from racs.learning.costs import KEEPWARM_TOUCHES, BreakpointTable, breakpoint_cost, prices_of
from racs.learning.gaps import DECAY, MAX_BIN, MIN_BIN, Cadence, bin_of, representative
from racs.learning.hedge import Hedge
from racs.learning.policy import choose_tier

SONNET = Rates(input=3.0, read=0.3, write_5m=3.75, write_30m=3.75, write_1h=6.0)


class TestBins:
    def test_tier_lifetimes_sit_on_bin_edges(self) -> None:
        """Edges are 300 x 2^(b/12): 300 s closes bin 0, 301 s opens bin 1."""
        assert bin_of(300) == 0
        assert bin_of(301) == 1
        # 12 x log2(12) = 43.02: edge 43 is 3595.9 s, so 3600 s opens bin 44 (4 s lost).
        assert bin_of(3595) == 43
        assert bin_of(3600) == 44
        assert bin_of(0) == MIN_BIN
        assert bin_of(10**9) == MAX_BIN
        assert math.isinf(representative(MAX_BIN))

    @given(st.floats(min_value=1.5, max_value=150_000))
    def test_a_gap_lies_inside_its_bin(self, gap: float) -> None:
        """Bin b covers (edge(b-1), edge(b)] and its representative lies inside too."""
        b = bin_of(gap)
        low, high = 300 * 2 ** ((b - 1) / 12), 300 * 2 ** (b / 12)
        assert low < gap * (1 + 1e-12) and gap <= high * (1 + 1e-12)
        assert low < representative(b) < high


class TestDecay:
    def test_older_gaps_fade_by_the_decay(self) -> None:
        """Three gaps: weights 0.9025, 0.95, 1 from oldest to newest."""
        c = Cadence()
        for t in (0, 10_000, 430_000, 440_000):  # gaps 10 s, 420 s, 10 s
            c.use(t)
        weights = c.weights()
        assert c.gaps == 3
        assert math.isclose(weights[bin_of(10)], DECAY**2 + 1)
        assert math.isclose(weights[bin_of(420)], DECAY)

    def test_out_of_order_use_teaches_nothing(self) -> None:
        """A record older than the last use is not a gap."""
        c = Cadence()
        c.use(100_000)
        assert c.use(50_000) is None
        assert c.gaps == 0 and c.last == 100_000

    @given(st.lists(st.floats(min_value=0, max_value=200_000), min_size=1, max_size=600))
    def test_weight_is_a_geometric_sum_whatever_the_gaps(self, gaps: list[float]) -> None:
        """Total weight after n gaps is (1 - 0.95^n) / 0.05, renormalisation included."""
        c = Cadence()
        t = 0.0
        c.use(t)
        for gap in gaps:
            t += gap * 1000
            c.use(t)
        n = len(gaps)
        assert math.isclose(sum(c.weights().values()), (1 - DECAY**n) / (1 - DECAY), rel_tol=1e-9)
        assert len(c.hist) <= MAX_BIN - MIN_BIN + 1

    @given(st.lists(st.floats(min_value=0, max_value=200_000), min_size=1, max_size=50))
    def test_state_round_trips_through_json(self, gaps: list[float]) -> None:
        """to_dict is JSON and from_dict gives back the same weights."""
        c = Cadence()
        t = 0.0
        c.use(t)
        for gap in gaps:
            t += gap * 1000
            c.use(t)
        back = Cadence.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back.gaps == c.gaps and back.last == c.last
        for b, w in c.weights().items():
            assert math.isclose(back.weights()[b], w, rel_tol=1e-12)


class TestCosts:
    def test_keep_warm_touch_arithmetic(self) -> None:
        """5m, gap 1200 s: touches at 270, 540, 810, 1080 s keep it alive to 1380 s."""
        # 4 touches x read 0.3 + the read 0.3 = 1.5; with 3 touches it dies at 1110 s:
        # 3 x 0.3 + a 5m write 3.75 = 4.65.
        assert math.isclose(breakpoint_cost(SONNET, "5m", 4, 1200), 1.5)
        assert math.isclose(breakpoint_cost(SONNET, "5m", 3, 1200), 4.65)
        assert math.isclose(breakpoint_cost(SONNET, "5m", 8, 1200), 1.5)  # only 4 sent
        assert math.isclose(breakpoint_cost(SONNET, "1h", 0, 1200), 0.3)
        assert breakpoint_cost(SONNET, "1h", 2, math.inf) == 2 * 0.3 + 6.0

    @given(
        st.lists(st.floats(min_value=0, max_value=200_000), min_size=1, max_size=40),
        st.floats(min_value=1_024, max_value=200_000),
        st.floats(min_value=0, max_value=1),
    )
    def test_choice_is_the_cheapest_option(
        self, gaps: list[float], prefix: float, new_share: float
    ) -> None:
        """Whatever was learned, the pick costs no more than any option weighed."""
        table = BreakpointTable(SONNET, ("5m", "1h"))
        c = Cadence()
        t = 0.0
        c.use(t, table.row)
        for gap in gaps:
            t += gap * 1000
            c.use(t, table.row)
        sums = c.folded(table, table.row, table.width)
        choice = choose_tier(table, sums, prefix, prefix * new_share)
        assert len(choice.options) == 3
        assert all(choice.pick.cost <= o.cost * (1 + 1e-9) for o in choice.options)
        assert choice.pick.touches in KEEPWARM_TOUCHES


class TestMoney:
    @given(st.floats(min_value=0.01, max_value=100), st.floats(min_value=0, max_value=1))
    def test_prices_are_cost_of_per_million_tokens(self, base: float, share: float) -> None:
        """The policy's per-token prices are what cost_of bills a million tokens of a class."""
        rates = Rates(
            input=base,
            read=base * share,
            write_5m=base * 1.25,
            write_30m=base * 1.25,
            write_1h=base * 2,
        )
        p = prices_of(rates)
        for field, kw in (
            ("input", "fresh"),
            ("read", "read"),
            ("write_5m", "write_5m"),
            ("write_30m", "write_30m"),
            ("write_1h", "write_1h"),
        ):
            assert getattr(p, field) == cost_of(Tokens(**{kw: MTOK}), rates).total

    def test_an_option_cost_is_cost_of_its_tokens(self) -> None:
        """A 5m write with one keep-warm touch and a read after 7 minutes, per 10,000 tokens,
        equals cost_of of the tokens it bills (two reads)."""
        table = BreakpointTable(SONNET, ("5m", "1h"), 1.0)
        i = table.options.index(("5m", 1))
        per_token = table.row_at(420)[i]
        assert 10_000 * per_token == pytest.approx(cost_of(Tokens(read=20_000), SONNET).total * 1e6)


class TestHedge:
    def test_state_round_trips(self) -> None:
        """A lineage's hedge survives to_dict/from_dict and JSON."""
        prices = prices_of(SONNET)
        h = Hedge()
        h.observe(prices, None, 10_000, 0, "5m", 1.0)
        h.decided(prices, "5m", "5m", 0, 10_000, 10_000)
        h.observe(prices, 420.0, 10_200, 0, "5m", 1.0)
        h.decided(prices, "5m", "5m", 1, 10_200, 10_200)
        c = Cadence()
        c.hedge = h
        back = Cadence.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back.hedge is not None
        assert back.hedge.to_list() == h.to_list()
        # 420 s spans 2 lifetimes of 0.8 x 300 s: one touch bridges it.
        assert h.since_long == 0 and h.long_touches == 1

    def test_a_bad_state_is_refused(self) -> None:
        """A malformed ``a`` entry raises ValueError (the snapshot loader starts empty)."""
        with pytest.raises(ValueError):
            Cadence.from_dict({"h": {}, "n": 0, "t": None, "a": [1, 2]})
        good = Hedge().to_list()
        good[4] = 0.0  # survival must lie in (0, 1]
        with pytest.raises(ValueError):
            Hedge.from_list(good)

    def test_a_gap_seen_unlocks_its_bridge_for_a_while(self) -> None:
        """After a 20-minute gap the next calls may risk the touches that bridge it again."""
        prices = prices_of(SONNET)
        h = Hedge()
        h.observe(prices, None, 10_000, 0, "5m", 1.0)
        h.decided(prices, "5m", "5m", 0, 10_000, 10_000)
        assert h.allowance(prices, "5m", 10_000).touches == pytest.approx(0.01 * h.floor)
        h.observe(prices, 1200.0, 10_000, 0, "5m", 1.0)
        h.decided(prices, "5m", "5m", 0, 10_000, 10_000)
        # 1200 / (0.8 x 300) - 1 = 4 touches of 10,000 tokens at 0.3 USD/MTok.
        assert h.allowance(prices, "5m", 10_000).touches == pytest.approx(4 * 10_000 * 0.3)
        assert h.allowance(prices, "5m", 10_000).premium == 0
