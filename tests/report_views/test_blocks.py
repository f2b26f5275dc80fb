"""Claude's 5-hour blocks: where they start and end, burn rate, projection, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.report.blocks import BLOCK_MS, blocks_of
from racs.report.build import HOUR_MS, Filters
from racs.traffic.model import Request
from report_views.conftest import CARD, HAIKU, ms, request


class TestWindows:
    def test_hour_floor_five_hours_and_gaps(self, card: PriceBook) -> None:
        """Requests at 10:17, 11:00 and 14:59 share the block 10:00-15:00; 15:00 starts
        the next (15:00-20:00); after a pause, 21:30 starts a block at 21:00."""
        found = blocks_of(
            [
                request("2026-02-10T11:00:00+00:00", 10),
                request("2026-02-10T10:17:00+00:00", 10),  # any order: sorted by time
                request("2026-02-10T14:59:00+00:00", 10),
                request("2026-02-10T15:00:00+00:00", 10),
                request("2026-02-10T21:30:00+00:00", 10),
            ],
            card,
        )
        assert [(b.start_ms, b.total.requests) for b in found.blocks] == [
            (ms("2026-02-10T10:00:00+00:00"), 3),
            (ms("2026-02-10T15:00:00+00:00"), 1),
            (ms("2026-02-10T21:00:00+00:00"), 1),
        ]
        assert found.blocks[0].end_ms == ms("2026-02-10T15:00:00+00:00")

    def test_tokens_dollars_and_burn_rate(self, card: PriceBook) -> None:
        """Three requests of 94,000 tokens (80,000 fresh, 10,000 read, 4,000 output)
        from 10:17 to 14:59 (282 minutes): 282,000 tokens, 1,000 a minute. Each request
        costs (80,000 x 3 + 10,000 x 0.3 + 4,000 x 15) / 1e6 = $0.303; three $0.909, over
        282 minutes $0.1934 an hour."""
        reqs = [
            request(f"2026-02-10T{t}:00+00:00", 80_000, read=10_000, output=4_000)
            for t in ("10:17", "12:00", "14:59")
        ]
        [block] = blocks_of(reqs, card).blocks
        assert block.tokens == 282_000
        assert block.usd == pytest.approx(0.909)
        assert block.burn_rate() == pytest.approx((1_000.0, 0.909 / 282 * 60))

    def test_projection_of_the_active_block(self, card: PriceBook) -> None:
        """60,000 fresh tokens at 10:00 and at 11:00 ($0.18 each): 2,000 tokens a minute,
        $0.36 an hour. At 12:00 the block (10:00-15:00) has 180 minutes left: projected
        120,000 + 360,000 = 480,000 tokens and $0.36 + 3 x $0.36 = $1.44."""
        found = blocks_of(
            [
                request("2026-02-10T10:00:00+00:00", 60_000),
                request("2026-02-10T11:00:00+00:00", 60_000),
            ],
            card,
        )
        now = ms("2026-02-10T12:00:00+00:00")
        block = found.active(now)
        assert block is not None
        assert block.projection(now) == pytest.approx((480_000, 1.44))
        doc = block.to_dict(now, 400_000)
        assert doc["active"] is True
        assert doc["totalTokens"] == 120_000
        assert doc["burnRate"] == pytest.approx({"tokensPerMinute": 2000.0, "usdPerHour": 0.36})
        assert doc["projection"] == pytest.approx(
            {"tokens": 480_000, "usd": 1.44, "minutesLeft": 180.0}
        )
        assert doc["limitShare"] == pytest.approx(0.3)
        assert doc["projectionLimitShare"] == pytest.approx(1.2)
        # After 15:00 nothing is active and nothing is projected.
        later = ms("2026-02-10T15:00:00+00:00")
        assert found.active(later) is None and block.projection(later) is None

    def test_one_moment_has_no_burn_rate(self, card: PriceBook) -> None:
        """A block whose requests share one timestamp has no rate and no projection."""
        [block] = blocks_of([request("2026-02-10T10:00:00+00:00", 5)] * 2, card).blocks
        assert block.burn_rate() is None
        assert block.projection(ms("2026-02-10T11:00:00+00:00")) is None

    def test_largest_past_block_leaves_out_the_active_one(self, card: PriceBook) -> None:
        """Blocks of 100 and 300 tokens have ended, the active one holds 1,000: max is 300."""
        found = blocks_of(
            [
                request("2026-02-10T01:00:00+00:00", 100),
                request("2026-02-10T06:00:00+00:00", 300),
                request("2026-02-10T12:00:00+00:00", 1_000),
            ],
            card,
        )
        assert found.largest_past(ms("2026-02-10T13:00:00+00:00")) == 300
        assert found.largest_past(ms("2026-02-10T02:00:00+00:00")) is None

    def test_filters_and_other_providers(self, card: PriceBook) -> None:
        """Filters apply first; OpenAI requests are counted apart, not cut into blocks."""
        gpt = Request(ms("2026-02-10T10:00:00+00:00"), "openai", "gpt-5", Tokens(fresh=1), "c", "c")
        found = blocks_of(
            [
                request("2026-02-10T09:00:00+00:00", 10),
                request("2026-02-10T10:00:00+00:00", 10, model=HAIKU),
                gpt,
            ],
            card,
            Filters(since_ms=ms("2026-02-10T09:30:00+00:00")),
        )
        assert (found.read, found.admitted, found.others) == (3, 2, {"openai": 1})
        [block] = found.blocks
        assert list(block.models) == [HAIKU]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.integers(int(ms("2026-01-01T00:00:00+00:00")), int(ms("2026-01-04T00:00:00+00:00"))),
        min_size=1,
        max_size=60,
    )
)
def test_every_request_is_in_exactly_one_block(stamps: list[int]) -> None:
    """Blocks start on the hour at or before their first request, hold their requests in
    [start, start + 5 h), do not overlap, and together hold every request once."""
    prices = PriceBook(CARD, database=False)
    found = blocks_of([request(float(t), 1) for t in stamps], prices)
    assert sum(b.total.requests for b in found.blocks) == len(stamps)
    previous_end = float("-inf")
    for b in found.blocks:
        assert b.start_ms % HOUR_MS == 0
        assert b.start_ms == b.first_ms // HOUR_MS * HOUR_MS
        assert b.start_ms >= previous_end
        assert b.start_ms <= b.first_ms <= b.last_ms < b.start_ms + BLOCK_MS
        previous_end = b.end_ms
    for t in stamps:
        assert sum(b.start_ms <= t < b.end_ms for b in found.blocks) == 1
