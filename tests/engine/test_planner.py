"""Planning by family (engine.md section 5), pinned with exact numbers."""

from __future__ import annotations

import math

import pytest

import racs
import racs.core.facts
from engine.helpers import plan_input, seg
from racs.core.model import (
    BreakpointDirective,
    NoneDirective,
    ResourceDirective,
    RoutingKeyDirective,
)


def codes(plan: racs.CachePlan) -> list[str]:
    return [f.code for f in plan.findings]


def anthropic(tokens: float = 2000, **reuse: float) -> dict:
    segments = [seg("system", "system", "stable", tokens), seg("turn", "dynamic", "volatile", 10)]
    extra = {"reuse": reuse} if reuse else {}
    return plan_input(segments, **extra)


BARE_BREAKPOINT = {"custom": {"family": "breakpoint", "maxBreakpoints": 4, "ttls": ["5m", "1h"]}}
"""A breakpoint provider with no multipliers (an explicit null cannot clear a shipped one)."""


def bare(tokens: float = 2000, **reuse: float) -> dict:
    return {**anthropic(tokens, **reuse), "provider": "custom"}


class TestBreakpointMinimum:
    def test_1023_tokens_is_below_the_1024_minimum(self) -> None:
        """stable < min_tokens -> a single none directive naming both numbers."""
        plan = racs.create_racs().plan(anthropic(1023))
        assert len(plan.directives) == 1
        directive = plan.directives[0]
        assert isinstance(directive, NoneDirective)
        assert "1023" in directive.reason and "1024" in directive.reason
        assert plan.break_even is None
        assert codes(plan) == ["below-minimum"]

    def test_1024_tokens_is_cached(self) -> None:
        """At exactly the minimum the prefix gets its breakpoint."""
        plan = racs.create_racs().plan(anthropic(1024))
        assert plan.directives == (BreakpointDirective("system", "5m"),)
        assert codes(plan) == []


class TestTtlTiers:
    @pytest.mark.parametrize(
        ("interval", "ttl"),
        [(1, "5m"), (240, "5m"), (241, "1h"), (3300, "1h")],
    )
    def test_tier_boundaries(self, interval: float, ttl: str) -> None:
        """<= 240 s -> 5m; <= 3300 s -> 1h (inside the window)."""
        plan = racs.create_racs().plan(anthropic(intervalSeconds=interval))
        assert plan.directives == (BreakpointDirective("system", ttl),)

    def test_no_reuse_declared_takes_5m(self) -> None:
        """Without a declared reuse the 5m tier is used."""
        assert racs.create_racs().plan(anthropic()).directives[0] == BreakpointDirective(
            "system", "5m"
        )

    def test_no_reuse_takes_1h_when_5m_is_not_offered(self) -> None:
        """A profile without the 5m tier falls back to 1h."""
        engine = racs.create_racs(profiles={"anthropic": {"ttls": ["1h"]}})
        assert engine.plan(anthropic()).directives[0] == BreakpointDirective("system", "1h")

    def test_calls_per_hour_derive_the_interval(self) -> None:
        """callsPerHour 15 -> interval 240 s -> 5m; intervalSeconds wins when both given."""
        engine = racs.create_racs()
        assert engine.plan(anthropic(callsPerHour=15)).directives[0].ttl == "5m"  # type: ignore[union-attr]
        both = engine.plan(anthropic(callsPerHour=15, intervalSeconds=600))
        assert both.directives[0].ttl == "1h"  # type: ignore[union-attr]

    def test_3301_seconds_enters_the_keep_warm_band(self) -> None:
        """Beyond 3300 s the widest tier (1h) is kept warm when reads still pay."""
        plan = racs.create_racs().plan(anthropic(intervalSeconds=3301))
        assert plan.directives == (BreakpointDirective("system", "1h"),)

    def test_keep_warm_cut_off(self) -> None:
        """Kept while cph*(1-r) > (3600/ttl)*r: with r=0.1 and 1h, cph must exceed 1/9.

        interval 32,000 s -> cph 0.1125 -> 0.10125 > 0.1: kept.
        interval 33,000 s -> cph 0.1091 -> 0.0982 < 0.1: none + write-premium-trap.
        """
        engine = racs.create_racs()
        kept = engine.plan(anthropic(intervalSeconds=32_000))
        assert kept.directives == (BreakpointDirective("system", "1h"),)
        dropped = engine.plan(anthropic(intervalSeconds=33_000))
        assert isinstance(dropped.directives[0], NoneDirective)
        assert "reuse interval exceeds provider TTL" in dropped.directives[0].reason
        assert codes(dropped) == ["write-premium-trap"]

    def test_band_without_read_multiplier_is_dropped(self) -> None:
        """The band needs a known read multiplier; without one the plan is none + trap."""
        engine = racs.create_racs(profiles=BARE_BREAKPOINT)
        plan = engine.plan(bare(intervalSeconds=7200))
        assert isinstance(plan.directives[0], NoneDirective)
        assert codes(plan) == ["write-premium-trap"]


class TestBreakEven:
    def test_default_tier_numbers(self) -> None:
        """2000 tokens at 5m: premium 2000*(1.25-1)=500, savings 2000*0.9=1800 -> 1 reuse."""
        be = racs.create_racs().plan(anthropic(2000)).break_even
        assert be is not None
        assert be.write_premium_tokens == 500
        assert be.min_reuses_to_profit == 1
        assert be.profitable is True

    def test_no_reuse_with_expensive_writes_is_a_trap(self) -> None:
        """Write multiplier 3 at 5m: premium 4000 / savings 1800 -> 3 reuses > 1: trap."""
        engine = racs.create_racs(profiles={"anthropic": {"writeMultiplier5m": 3}})
        plan = engine.plan(anthropic(2000))
        assert plan.break_even is not None
        assert plan.break_even.min_reuses_to_profit == 3  # ceil(4000 / 1800)
        assert plan.break_even.profitable is False
        assert plan.directives == (BreakpointDirective("system", "5m"),)
        assert codes(plan) == ["write-premium-trap"]

    def test_inside_window_is_profitable_when_finite(self) -> None:
        """Inside the TTL window any finite reuse count is profitable (reads refresh free)."""
        engine = racs.create_racs(profiles={"anthropic": {"writeMultiplier1h": 5}})
        be = engine.plan(anthropic(2000, intervalSeconds=600)).break_even
        assert be is not None
        assert be.write_premium_tokens == 8000  # 2000 * (5 - 1)
        assert be.min_reuses_to_profit == 5  # ceil(8000 / 1800)
        assert be.profitable is True

    def test_read_multiplier_one_never_profits(self) -> None:
        """r = 1 saves nothing: min reuses is infinite (null on the wire) and not profitable."""
        engine = racs.create_racs(profiles={"anthropic": {"readMultiplier": 1}})
        plan = engine.plan(anthropic(2000, intervalSeconds=60))
        assert plan.break_even is not None
        assert math.isinf(plan.break_even.min_reuses_to_profit)
        assert plan.break_even.profitable is False
        assert plan.to_dict()["breakEven"]["minReusesToProfit"] is None
        assert codes(plan) == ["write-premium-trap"]

    def test_keep_warm_band_numbers(self) -> None:
        """interval 7200 s (cph 0.5), 1h tier: premium 2000, savings 1800,
        net = 1800 - (1/0.5)*2000*0.1 = 1400 -> ceil(2000/1400) = 2 reuses, profitable."""
        be = racs.create_racs().plan(anthropic(2000, intervalSeconds=7200)).break_even
        assert be is not None
        assert be.write_premium_tokens == 2000
        assert be.min_reuses_to_profit == 2
        assert be.profitable is True

    def test_multipliers_derived_from_pricing(self) -> None:
        """A profile without multipliers derives them from the model's prices."""
        engine = racs.create_racs(
            profiles=BARE_BREAKPOINT,
            pricing={
                "claude-sonnet-4-5": {
                    "inputPerMTok": 4,
                    "cacheReadPerMTok": 1,
                    "cacheWrite5mPerMTok": 6,
                }
            },
        )
        be = engine.plan(bare(2000)).break_even
        assert be is not None
        assert be.write_premium_tokens == 1000  # 2000 * (6/4 - 1)
        assert be.min_reuses_to_profit == 1  # ceil(1000 / (2000 * 0.75))


class TestMarkers:
    def segments(self) -> list[dict]:
        return [
            seg("tools", "tools", "stable", 1000),
            seg("system", "system", "stable", 800),
            seg("doc-small", "documents", "stable", 300),
            seg("hist-a", "history", "semi", 200),
            seg("doc-big", "documents", "semi", 900),
            seg("hist-b", "history", "semi", 100),
            seg("hist-c", "history", "semi", 100),
            seg("turn", "dynamic", "volatile", 50),
        ]

    def test_four_markers_on_role_weighted_spans_in_request_order(self) -> None:
        """Spans: tools, system, doc-small, hist-a, doc-big, hist-b..c (deepest).
        Budget 4 = deepest + tools (4) + system (3) + the bigger documents span (doc-big)."""
        plan = racs.create_racs().plan(plan_input(self.segments()))
        assert plan.directives == (
            BreakpointDirective("tools", "5m"),
            BreakpointDirective("system", "5m"),
            BreakpointDirective("doc-big", "5m"),
            BreakpointDirective("hist-c", "5m"),
        )
        assert plan.stable_tokens == 3400
        assert plan.total_tokens == 3450

    def test_budget_one_marks_only_the_deepest(self) -> None:
        """With one breakpoint the deepest span is always the one marked."""
        engine = racs.create_racs(profiles={"anthropic": {"maxBreakpoints": 1}})
        plan = engine.plan(plan_input(self.segments()))
        assert plan.directives == (BreakpointDirective("hist-c", "5m"),)

    def test_equal_weight_ties_break_by_position(self) -> None:
        """Same role weight and tokens: the earlier span wins the slot."""
        segments = [
            seg("d1", "documents", "stable", 600),
            seg("s1", "system", "stable", 10),
            seg("d2", "documents", "stable", 600),
            seg("s2", "system", "stable", 10),
        ]
        engine = racs.create_racs(profiles={"anthropic": {"maxBreakpoints": 2}})
        plan = engine.plan(plan_input(segments))
        assert [d.segment_id for d in plan.directives] == ["s1", "s2"]  # type: ignore[union-attr]

    def test_zero_budget_is_none(self) -> None:
        """maxBreakpoints 0 -> none."""
        engine = racs.create_racs(profiles={"anthropic": {"maxBreakpoints": 0}})
        assert isinstance(engine.plan(anthropic()).directives[0], NoneDirective)

    def test_volatile_first_segment_gets_breakpoint_after_volatile(self) -> None:
        """No stable run: none, plus breakpoint-after-volatile on the first segment
        (only reachable when the minimum does not stop planning first)."""
        engine = racs.create_racs(profiles={"anthropic": {"minCacheableTokens": 0}})
        plan = engine.plan(
            plan_input([seg("turn", "dynamic", "volatile", 10), seg("s", "system", "stable", 5000)])
        )
        assert isinstance(plan.directives[0], NoneDirective)
        assert codes(plan) == ["segment-order", "volatile-early", "breakpoint-after-volatile"]
        assert plan.findings[-1].segment_id == "turn"


class TestRoutingKey:
    def openai(self, **reuse: float) -> dict:
        extra = {"reuse": reuse} if reuse else {}
        return plan_input([seg("system", tokens=2000)], provider="openai", model="gpt-4.1", **extra)

    @pytest.mark.parametrize(("interval", "retention"), [(None, None), (3600, None), (3601, "24h")])
    def test_retention_only_above_3600_seconds(
        self, interval: float | None, retention: str | None
    ) -> None:
        """One routing-key directive with key = prefix key; 24h retention only when
        the interval exceeds 3600 s."""
        engine = racs.create_racs()
        plan = engine.plan(self.openai(intervalSeconds=interval) if interval else self.openai())
        assert plan.directives == (RoutingKeyDirective(plan.prefix_key, retention),)
        assert plan.break_even is None

    def test_no_retention_where_the_profile_lacks_it(self) -> None:
        """xAI has no retention tier: never 24h."""
        plan = racs.create_racs().plan(
            plan_input(
                [seg("s", tokens=2000)],
                provider="xai",
                model="grok-4",
                reuse={"intervalSeconds": 7200},
            )
        )
        assert plan.directives == (RoutingKeyDirective(plan.prefix_key),)


class TestResource:
    def google(self, tokens: float = 3000, **reuse: float) -> dict:
        extra = {"reuse": reuse} if reuse else {}
        return plan_input(
            [seg("system", tokens=tokens), seg("turn", "dynamic", "volatile", 5)],
            provider="google",
            model="gemini-2.5-flash",
            **extra,
        )

    @pytest.mark.parametrize(
        ("interval", "ttl"),
        [(None, 3600), (10, 300), (60, 300), (100, 400), (900, 3600), (3000, 3600)],
    )
    def test_ttl_is_four_intervals_clamped(self, interval: float | None, ttl: int) -> None:
        """ttl = 3600 without an interval, else clamp(4*interval, 300, 3600)."""
        inp = self.google(intervalSeconds=interval) if interval else self.google()
        plan = racs.create_racs().plan(inp)
        assert plan.directives == (ResourceDirective("create", plan.prefix_key, ttl),)

    def test_storage_trap(self) -> None:
        """Fewer than one call per hour cannot pay for storage: none + write-premium-trap."""
        plan = racs.create_racs().plan(self.google(callsPerHour=0.5))
        assert isinstance(plan.directives[0], NoneDirective)
        assert "storage trap" in plan.directives[0].reason
        assert codes(plan) == ["write-premium-trap"]

    def test_below_minimum_is_none(self) -> None:
        """Improvement: below the profile minimum no resource is planned."""
        plan = racs.create_racs().plan(self.google(tokens=2047))
        assert isinstance(plan.directives[0], NoneDirective)
        assert codes(plan) == ["below-minimum"]

    def test_break_even_from_pricing(self) -> None:
        """stable 100,000 tokens, input 0.30, read 0.03, storage 1.00 USD/MTok(-hour):
        save_call = 0.1*(0.30-0.03) = 0.027, storage_hour = 0.1*1.0 = 0.1,
        premium tokens = 0.1/0.30*1e6, min reuses = ceil(0.1/0.027) = 4."""
        engine = racs.create_racs(
            pricing={"gemini-2.5-flash": {"inputPerMTok": 0.30, "cacheReadPerMTok": 0.03}}
        )
        be = engine.plan(self.google(tokens=100_000, callsPerHour=4)).break_even
        assert be is not None
        assert be.write_premium_tokens == pytest.approx(0.1 / 0.30 * 1e6, rel=1e-12)
        assert be.min_reuses_to_profit == 4
        assert be.profitable is True
        loses = engine.plan(self.google(tokens=100_000, callsPerHour=3))
        assert loses.break_even is not None and loses.break_even.profitable is False
        assert codes(loses) == ["write-premium-trap"]


class TestPassive:
    @pytest.mark.parametrize(
        "provider", ["deepseek", "groq", "ollama", "lmstudio", "huggingface", "custom"]
    )
    def test_passive_is_none_with_notes(self, provider: str) -> None:
        """Passive providers get none; the reasoning ends with the profile's notes."""
        engine = racs.create_racs()
        plan = engine.plan(plan_input([seg("s", tokens=5000)], provider=provider, model="m"))
        assert plan.family == "passive"
        assert isinstance(plan.directives[0], NoneDirective)
        notes = engine.profile_of(provider).notes
        assert notes and plan.reasoning.endswith(notes)


class TestProfiles:
    def test_sixteen_providers_four_families(self) -> None:
        """All 16 shipped providers resolve, spread over the 4 families of section 3."""
        engine = racs.create_racs()
        families = {p: engine.profile_of(p).family for p in racs.core.facts.PROVIDERS}
        assert len(families) == 16
        assert set(families.values()) == {"breakpoint", "routing-key", "resource", "passive"}
        assert [p for p, f in families.items() if f == "breakpoint"] == [
            "anthropic",
            "bedrock",
            "microsoft-foundry",
            "hermes",
        ]
        assert engine.profile_of("openai").supports_retention is True
        assert engine.profile_of("xai").read_multiplier == 0.16
        assert engine.profile_of("mistral").min_cacheable_tokens == 64
        assert engine.profile_of("google").storage_per_mtok_hour == 1.0
        assert engine.profile_of("groq").read_multiplier == 0.5
        assert engine.profile_of("deepseek").min_cacheable_tokens is None

    def test_overrides_are_shallow_and_keep_the_id(self) -> None:
        """profiles= merges over the shipped values; id cannot be overridden."""
        engine = racs.create_racs(profiles={"anthropic": {"minCacheableTokens": 10, "id": "x"}})
        profile = engine.profile_of("anthropic")
        assert (profile.id, profile.min_cacheable_tokens, profile.max_breakpoints) == (
            "anthropic",
            10,
            4,
        )

    def test_family_override_is_validated(self) -> None:
        """An unknown family is refused at construction."""
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(profiles={"custom": {"family": "magic"}})
        assert err.value.code == "ERR_INVALID_INPUT"

    def test_custom_provider_as_breakpoint(self) -> None:
        """'custom' + profiles describes any provider."""
        engine = racs.create_racs(
            profiles={
                "custom": {
                    "family": "breakpoint",
                    "maxBreakpoints": 2,
                    "ttls": ["5m"],
                    "minCacheableTokens": 0,
                }
            }
        )
        plan = engine.plan(plan_input([seg("s", tokens=10)], provider="custom", model="m"))
        assert plan.directives == (BreakpointDirective("s", "5m"),)


class TestBreakEvenFromThePriceBook:
    def test_gemini_plan_without_a_card_prices_storage_from_the_bundled_database(self) -> None:
        """No card: the planner reads the same PriceBook as the stats (issue 22).

        gemini-2.5-pro on 2026-01-01: input 1.25, read 0.125 USD/MTok (bundled database),
        storage 4.5 USD/MTok-hour (catalog, Pro). 17,000 stable tokens:
        storage 0.017 x 4.5 = 0.0765 USD/h; a call saves 0.017 x (1.25 - 0.125) = 0.019125;
        ceil(0.0765 / 0.019125) = 4 calls/h; premium 0.0765 / 1.25 x 1e6 = 61,200 tokens.
        """
        pytest.importorskip("genai_prices")
        engine = racs.create_racs(clock=lambda: 1_767_225_600_000)
        plan = engine.plan(
            {
                "provider": "google",
                "model": "gemini-2.5-pro",
                "segments": [
                    {"id": "s", "role": "system", "stability": "stable", "content": "x" * 68_000},
                    {"id": "q", "role": "dynamic", "stability": "volatile", "content": "hi"},
                ],
                "reuse": {"intervalSeconds": 60},
            }
        )
        assert plan.break_even is not None
        assert plan.break_even.min_reuses_to_profit == 4
        assert plan.break_even.write_premium_tokens == pytest.approx(61_200)
        assert plan.break_even.profitable

    def test_custom_providers_are_not_priced_by_model_name(self) -> None:
        """A model name on a local or custom provider gets no database price."""
        book = racs.create_racs().prices
        assert book.card("custom", "claude-sonnet-4-5") is None
        assert book.card("ollama", "gpt-4.1") is None
