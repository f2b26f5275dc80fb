"""Issue 22: the learned policy's per-gap costs are the one cache model's (racs.core.cache),
priced through cost_of. The policy keeps an analytic shortcut (a row per gap bin) only
because these tests prove it equal to the model's transitions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racs.core.accounting import MTOK, Rates, Tokens, cost_of, rates_of, storage_usd
from racs.core.cache import EMPTY, NEUTRAL, Setting, explicit_rule, rules_for, serve, warm
from racs.core.catalog import default_profile_of
from racs.core.model import Pricing
from racs.learning.costs import KEEPWARM_TOUCHES, SURVIVAL, breakpoint_cost, prices_of
from racs.learning.costs import resource_cost as policy_resource_cost
from racs.replay.learned import REPLAY_TOUCH_SPACING

SONNET = Rates(input=3.0, read=0.3, write_5m=3.75, write_30m=3.75, write_1h=6.0)
ANTHROPIC = default_profile_of("anthropic", "claude-sonnet-4-5")
GOOGLE = default_profile_of("google", "gemini-2.5-pro")


@dataclass(frozen=True)
class Ask:
    """One request as the cache model reads it."""

    t_ms: float
    prefix: int
    shared: int
    external: int = 0
    miss: bool = False


def _model_cost(tier: str, touches: int, gap_s: float, tokens: int, early: float) -> float:
    """USD of the prefix after a write of ``tier``: the touches replay sends while idle
    (keep warm ``touches`` TTLs of the surviving share) and the next use, by the model."""
    assert ANTHROPIC is not None
    rules = rules_for(ANTHROPIC, Setting("s", early_eviction=early))
    state, _ = serve(EMPTY, Ask(0.0, tokens, 0), tier, rules)
    ttl_ms = rules.tiers[tier].ttl_ms
    limit = touches * ttl_ms * REPLAY_TOUCH_SPACING + 1e-3
    state, sent, touched = warm(state, rules, gap_s * 1000, limit)
    _, served = serve(state, Ask(gap_s * 1000, tokens, tokens), tier, rules)
    reads = sent * touched + served.read
    written = served.written
    billed = Tokens(read=reads, **{f"write_{tier}": float(written)})
    return cost_of(billed, SONNET).total


@given(
    st.sampled_from(["5m", "1h"]),
    st.sampled_from(KEEPWARM_TOUCHES),
    st.floats(min_value=1, max_value=40_000),
    st.integers(min_value=2_000, max_value=200_000),
    st.sampled_from([1.0, SURVIVAL]),
)
def test_breakpoint_cost_is_the_cache_model(
    tier: str, touches: int, gap_s: float, tokens: int, survival: float
) -> None:
    """Per prefix token, the policy's cost of an option for one gap equals what the cache
    model reads and writes for it, priced by cost_of (neutral, and with entries living
    ``SURVIVAL`` of their TTL as the pessimistic setting has them)."""
    early = 1.0 - survival
    want = _model_cost(tier, touches, gap_s, tokens, early)
    got = breakpoint_cost(prices_of(SONNET), tier, touches, gap_s, REPLAY_TOUCH_SPACING, survival)
    assert tokens * got / MTOK == pytest.approx(want, rel=1e-9, abs=1e-12)


@given(
    st.sampled_from(list(GOOGLE.resource_ttls or ()) if GOOGLE else [300.0]),
    st.floats(min_value=1, max_value=200_000),
    st.integers(min_value=4_096, max_value=500_000),
)
def test_resource_cost_is_the_cache_model(ttl_s: float, gap_s: float, tokens: int) -> None:
    """A Gemini cached content: storage for its whole TTL, then a read inside it or the
    input price after it, as the model serves and bills it (beyond the creation, which
    costs the input price as sending the prefix uncached would)."""
    assert GOOGLE is not None
    rates = rates_of(Pricing(input_per_mtok=1.25, storage_per_mtok_hour=4.5), GOOGLE)
    rules = rules_for(GOOGLE, NEUTRAL)
    rule = explicit_rule(ttl_s)
    assert rule.name in rules.tiers
    state, created = serve(EMPTY, Ask(0.0, tokens, 0), rule.name, rules)
    assert created.written == tokens and created.rule is not None and created.rule.storage
    storage = storage_usd(created.written, created.rule.ttl_ms / 1000, rates.storage_per_mtok_hour)
    # The next use writes nothing, so an expired resource leaves the prefix uncached.
    _, served = serve(state, Ask(gap_s * 1000, tokens, tokens), None, rules)
    implicit_free = rules.tiers["implicit"].billed_as is None
    assert implicit_free
    next_use = cost_of(Tokens(read=served.read, fresh=tokens - served.read), rates).total
    got = policy_resource_cost(rates, ttl_s, gap_s) * tokens / MTOK
    assert got == pytest.approx(storage + next_use, rel=1e-9, abs=1e-12)
