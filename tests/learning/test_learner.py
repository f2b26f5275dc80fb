"""The gap learner and the policy's arithmetic, without an engine."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from racs.core.accounting import Rates
from racs.learning.costs import KEEPWARM_TOUCHES, BreakpointTable, breakpoint_cost
from racs.learning.gaps import DECAY, MAX_BIN, MIN_BIN, Cadence, bin_of, representative
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
