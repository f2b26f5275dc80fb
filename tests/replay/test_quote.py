"""The quote a report finding uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.replay.optimum import actions
from racs.replay.quote import Quoter, best_choice_savings
from racs.replay.simulate import run
from racs.replay.steps import Step
from racs.replay.strategies import Decision
from racs.traffic.model import Request

CARD = {
    "claude-sonnet-4-5": Pricing(
        input_per_mtok=3.0,
        cache_read_per_mtok=0.3,
        cache_write_5m_per_mtok=3.75,
        cache_write_1h_per_mtok=6.0,
    )
}


def _req(t_s: float, read: int, w5: int) -> Request:
    return Request(t_s * 1000, "anthropic", "claude-sonnet-4-5", Tokens(1, read, w5), "s", "s")


def test_a_1h_write_would_have_saved() -> None:
    """100k written 5m, then 20 minutes later rewritten: a 1h first write pays.

    Recorded: 100000 x 3.75e-6 twice = 0.75 (+ 2 fresh tokens).
    1h first: 100000 x 6e-6 = 0.6; the second then reads, but is recorded as a 5m write
    of the same prefix, which now writes nothing and reads 100000 x 0.3e-6 = 0.03
    -> 0.63; saved 0.12.
    """
    stream = [_req(0, 0, 100_000), _req(1200, 0, 100_000)]
    quote = best_choice_savings(stream, 0, PriceBook(CARD, database=False))
    assert quote.tier == "1h"
    assert quote.saved_usd == pytest.approx(0.12)
    assert quote.sentence() == "a 1h write here would have saved $0.12"


def test_several_quotes_at_once_and_a_bad_index() -> None:
    """Nothing follows the second request, so not writing at all saves its write premium."""
    from racs.core.errors import RacsError
    from racs.replay.quote import quotes

    stream = [_req(0, 0, 100_000), _req(1200, 0, 100_000)]
    book = PriceBook(CARD, database=False)
    first, second = quotes(stream, [0, 1], book)
    assert first.tier == "1h" and first.saved_usd == pytest.approx(0.12)
    assert second.saved_usd == pytest.approx(0.075)  # no write: 100000 x (3.75 - 3) e-6
    assert second.tier is None
    with pytest.raises(RacsError):
        quotes(stream, [2], book)


class _OneChanged:
    """Every request as recorded but one: the whole-stream replay a quote must equal."""

    name = "one-changed"

    def __init__(self, index: int, decision: Decision) -> None:
        self.index, self.decision, self.i = index, decision, 0

    def shortcut(self, step: Step, options: object) -> Decision:
        i, self.i = self.i, self.i + 1
        return self.decision if i == self.index else step.recorded

    def decide(self, situation: object) -> Decision:
        raise AssertionError("replayed through shortcut")

    def end_stream(self, stream: str) -> None:
        self.i = 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 30, 200, 299, 301, 900, 3_000, 3_599, 3_601, 8_000]),
            st.integers(0, 3),
            st.integers(500, 20_000),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_a_local_quote_equals_replaying_the_whole_stream(
    shape: list[tuple[int, int, int]],
) -> None:
    """Replaying only until the states meet again gives the whole stream's difference."""
    t, stream = 0.0, []
    for gap, kind, size in shape:
        t += gap
        read = size // 2 if kind == 1 else 0
        w5 = size - read if kind in (1, 2) else 0
        w1h = size if kind == 3 else 0
        stream.append(
            Request(
                t * 1000, "anthropic", "claude-sonnet-4-5", Tokens(7, read, w5, 0, w1h), "s", "s"
            )
        )
    book = PriceBook(CARD, database=False)
    quoter = Quoter(stream, book)
    base, _ = run(
        "q",
        quoter.rules.family,
        quoter.steps,
        quoter.rules,
        _OneChanged(-1, Decision(None)),
        quoter.horizon,
    )
    for index in range(len(stream)):
        for tier in actions(quoter.rules):
            whole, _ = run(
                "q",
                quoter.rules.family,
                quoter.steps,
                quoter.rules,
                _OneChanged(index, Decision(tier)),
                quoter.horizon,
            )
            assert quoter.delta(index, Decision(tier)) == pytest.approx(
                whole.total - base.total, abs=1e-9
            )
