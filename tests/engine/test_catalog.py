"""The model catalog (issue 8): per-model terms, GPT-5.6 explicit caching, lookback."""

from __future__ import annotations

from typing import Any

import pytest

import racs
from engine.helpers import plan_input, seg
from racs.core.catalog import default_catalog, normalize_model
from racs.core.model import BreakpointDirective, RoutingKeyDirective


class TestLookup:
    @pytest.mark.parametrize(
        ("provider", "model", "minimum", "entry"),
        [
            ("anthropic", "claude-opus-5", 512, "claude-512"),
            ("anthropic", "claude-sonnet-4-5-20250929", 1024, "claude-1024"),
            ("anthropic", "claude-opus-4", 1024, "claude-1024"),
            ("anthropic", "claude-opus-4-1-20250805", 1024, "claude-1024"),
            ("anthropic", "claude-opus-4-7", 2048, "claude-2048"),
            ("anthropic", "claude-opus-4-5", 4096, "claude-4096"),
            ("anthropic", "claude-haiku-4-5@20251001", 4096, "claude-4096"),
            ("bedrock", "us.anthropic.claude-opus-4-7-v1:0", 4096, "claude-opus-4-7-bedrock"),
            ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 1024, "claude-1024"),
            ("google", "gemini-3.1-pro-preview", 4096, "gemini-3-1-pro"),
            ("google", "models/gemini-2.5-flash", 2048, "gemini-2-5-flash"),
            # November 2026: the 512 row of the 5-series, without the 1024 row catching 5.5
            ("anthropic", "claude-fable-5-1", 512, "claude-5-1-reads"),
            ("anthropic", "claude-mythos-5-1", 512, "claude-5-1-reads"),
            ("anthropic", "claude-opus-5-5", 512, "claude-opus-5-5"),
            ("anthropic", "claude-opus-5", 512, "claude-512"),
            ("anthropic", "claude-sonnet-5-5", 512, "claude-sonnet-5-5"),
            ("anthropic", "claude-sonnet-5-5-20261007", 512, "claude-sonnet-5-5"),
            ("anthropic", "claude-fable-5", 512, "claude-512"),
            ("anthropic", "claude-mythos-5", 512, "claude-512"),
            ("anthropic", "claude-haiku-5-5", 512, "claude-haiku-5-5"),
            ("anthropic", "claude-sonnet-5", 1024, "claude-1024"),
        ],
    )
    def test_minimums_by_model(self, provider: str, model: str, minimum: int, entry: str) -> None:
        """Exact names, dated snapshots, Bedrock ids and prefixes resolve to their entry."""
        profile = racs.create_racs().profile_of(provider, model)
        assert (profile.min_cacheable_tokens, profile.catalog_entry) == (minimum, entry)

    def test_unknown_model_is_the_provider_profile(self) -> None:
        """An unknown id falls back to the provider profile exactly."""
        engine = racs.create_racs()
        assert engine.profile_of("anthropic", "claude-next-thing") == engine.profile_of("anthropic")
        assert engine.profile_of("openai", "my-finetune") == engine.profile_of("openai")

    @pytest.mark.parametrize(
        ("model", "read"),
        [
            ("gpt-4o-2024-08-06", 0.5),
            ("o3-mini", 0.25),
            ("o1", 0.25),
            ("gpt-4.1-mini", 0.25),
            ("gpt-5.2", 0.1),
            ("gpt-5.5", 0.1),
            ("gpt-6-astra", 0.1),
            ("gpt-6-sol", 0.05),
            ("gpt-6-luna", 0.05),
            ("gpt-6.1-sol", 0.05),
            ("gpt-6.1-terra", 0.05),
        ],
    )
    def test_openai_read_discounts_by_family(self, model: str, read: float) -> None:
        """0.5x gpt-4o, 0.25x o-series and gpt-4.1, 0.1x gpt-5.x and gpt-6-astra, 0.05x GPT-6."""
        assert racs.create_racs().profile_of("openai", model).read_multiplier == read

    @pytest.mark.parametrize(
        ("provider", "model", "read"),
        [
            ("anthropic", "claude-opus-5-5", 0.05),
            ("anthropic", "claude-sonnet-5-5", 0.05),
            ("anthropic", "claude-fable-5-2", 0.025),
            ("xai", "grok-4.6", 0.25),
            ("xai", "grok-4.7", 0.25),
            ("deepseek", "deepseek-v4.1-flash", 0.02),
            ("deepseek", "deepseek-v4-pro", 0.033),
        ],
    )
    def test_november_read_multipliers(self, provider: str, model: str, read: float) -> None:
        """Cache-read multipliers read in November 2026."""
        assert racs.create_racs().profile_of(provider, model).read_multiplier == read

    def test_every_entry_has_a_source_and_date(self) -> None:
        catalog = default_catalog()
        assert all(e.source and e.checked for e in catalog.entries)

    def test_gemini_flash_plans_with_the_documented_minimum(self) -> None:
        """The API accepts 1024 but the docs say 2048: racs plans with 2048 and says so."""
        profile = racs.create_racs().profile_of("google", "gemini-2.5-flash")
        assert profile.min_cacheable_tokens == 2048
        assert profile.notes is not None and "1,024" in profile.notes

    def test_gemini_storage_by_model(self) -> None:
        """Flash stores at 1.00 and Pro at 4.50 USD per MTok-hour."""
        engine = racs.create_racs()
        assert engine.profile_of("google", "gemini-2.5-flash").storage_per_mtok_hour == 1.0
        assert engine.profile_of("google", "gemini-2.5-pro").storage_per_mtok_hour == 4.5

    def test_catalog_has_a_date_and_sources(self) -> None:
        """Every entry says where its facts were read; the catalog says when."""
        catalog = default_catalog()
        assert catalog.checked == "2026-11-29"
        assert all(e.source for e in catalog.entries)

    def test_host_entries_override_and_extend(self) -> None:
        """A host entry wins over the shipped one and can add new models."""
        engine = racs.create_racs(
            catalog=[
                {
                    "id": "mine",
                    "providers": ["anthropic"],
                    "match": ["claude-opus-4-5*"],
                    "refine": {"minCacheableTokens": 333},
                    "source": "our own measurements",
                },
            ]
        )
        assert engine.profile_of("anthropic", "claude-opus-4-5").min_cacheable_tokens == 333
        assert (
            racs.create_racs(catalog=False)
            .profile_of("anthropic", "claude-opus-4-5")
            .min_cacheable_tokens
            == 1024
        )

    def test_host_profile_overrides_beat_the_catalog(self) -> None:
        """profiles= and model_profiles= are the host's word: they win over catalog data."""
        engine = racs.create_racs(
            profiles={"anthropic": {"minCacheableTokens": 100}},
            model_profiles={"claude-haiku-*": {"minCacheableTokens": 7}},
        )
        assert engine.profile_of("anthropic", "claude-opus-4-5").min_cacheable_tokens == 100
        assert engine.profile_of("anthropic", "claude-haiku-4-5").min_cacheable_tokens == 7

    def test_bad_entries_are_refused(self) -> None:
        """Catalog entries are validated like profiles."""
        with pytest.raises(racs.RacsError):
            racs.create_racs(
                catalog=[{"id": "x", "providers": ["acme"], "match": ["m"], "source": "s"}]
            )

    def test_normalize_strips_snapshots(self) -> None:
        """Vendor prefixes, version and date suffixes are dropped."""
        assert normalize_model("us.anthropic.claude-opus-4-7-20260101-v1:0") == "claude-opus-4-7"


class TestCatalogDecisions:
    def test_opus_4_5_minimum_is_4096(self) -> None:
        """3000 stable tokens cache on Sonnet 4.5 but not on Opus 4.5."""
        engine = racs.create_racs()
        segments = [seg("s", tokens=3000)]
        assert engine.plan(plan_input(segments)).directives == (BreakpointDirective("s", "5m"),)
        opus = engine.plan(plan_input(segments, model="claude-opus-4-5"))
        assert opus.directives[0].kind == "none"
        assert "4096" in opus.directives[0].reason  # type: ignore[union-attr]

    def test_gpt_5_6_plans_breakpoints_with_30m_and_a_routing_key(self) -> None:
        """GPT-5.6+: a breakpoint provider with the 30m tier, plus the routing key."""
        engine = racs.create_racs()
        plan = engine.plan(
            plan_input(
                [
                    seg("tools", "tools", "stable", 1500),
                    seg("sys", "system", "stable", 1000),
                    seg("q", "dynamic", "volatile", 10),
                ],
                provider="openai",
                model="gpt-5.6",
                reuse={"intervalSeconds": 600},
            )
        )
        assert plan.family == "breakpoint"
        assert plan.directives == (
            BreakpointDirective("tools", "30m"),
            BreakpointDirective("sys", "30m"),
            RoutingKeyDirective(plan.prefix_key),
        )
        assert plan.break_even is not None
        assert plan.break_even.write_premium_tokens == pytest.approx(625)  # 2500 * 0.25

    def test_older_openai_keeps_retention(self) -> None:
        """gpt-5.2 stays on routing-key with 24h retention above an hour."""
        plan = racs.create_racs().plan(
            plan_input(
                [seg("s", tokens=3000)],
                provider="openai",
                model="gpt-5.2",
                reuse={"intervalSeconds": 7200},
            )
        )
        assert plan.directives == (RoutingKeyDirective(plan.prefix_key, "24h"),)

    @pytest.mark.parametrize(
        ("model", "interval", "retention"),
        [
            ("gpt-4o", 7200, None),  # no extended retention: never sent
            ("o3", 7200, None),
            ("gpt-5.5", 30, "24h"),  # only 24h is accepted: always sent
            ("gpt-5.5", None, "24h"),
            ("gpt-5.2", 30, None),
        ],
    )
    def test_retention_follows_the_profile_options(
        self, model: str, interval: float | None, retention: str | None
    ) -> None:
        """Retention is chosen from the model's retention options, not the provider name."""
        reuse = {} if interval is None else {"reuse": {"intervalSeconds": interval}}
        plan = racs.create_racs().plan(
            plan_input([seg("s", tokens=3000)], provider="openai", model=model, **reuse)
        )
        assert plan.directives == (RoutingKeyDirective(plan.prefix_key, retention),)


class TestReportedWriteTier:
    @pytest.mark.parametrize(
        ("provider", "model", "tier"),
        [
            ("openai", "gpt-5.6", "30m"),
            ("openai", "gpt-6-sol", "30m"),
            ("openrouter", "gpt-5.6", "30m"),
            ("anthropic", "claude-sonnet-4-5", "5m"),
            ("openai", "gpt-4o", "5m"),
            ("nobody", "x", "5m"),
        ],
    )
    def test_tier_of_untiered_writes(self, provider: str, model: str, tier: str) -> None:
        """Usage reports without a tier are read as the model's shortest write tier."""
        from racs.core.catalog import reported_write_tier

        assert reported_write_tier(provider, model) == tier

    def test_writes_cost_no_premium_where_the_model_bills_none(self) -> None:
        """gpt-4.1 bills no cache writes: a card without write prices charges input."""
        from racs.core.accounting import parse_pricing, rates_of

        profile = racs.create_racs().profile_of("openai", "gpt-4.1")
        rates = rates_of(parse_pricing({"inputPerMTok": 2}), profile)
        assert (rates.write_5m, rates.write_1h, rates.read) == (2, 2, 0.5)


def conversation_turn(history: list[dict[str, Any]], turn: int) -> list[dict[str, Any]]:
    """Append one agent turn: a user message, then tool rounds, then an answer.

    Every fifth turn is a long investigation of 14 tool rounds (28 messages, 28
    positions): far more than the 20-position lookback.
    """
    rounds = 14 if turn % 5 == 4 else 2
    messages = [{"role": "user", "blocks": 1}]
    for _ in range(rounds):
        messages.append({"role": "assistant", "blocks": 2})  # text + a run of tool_use
        messages.append({"role": "user", "blocks": 1})  # a run of tool_result counts as one
    messages.append({"role": "assistant", "blocks": 1})
    start = len(history)
    return [
        seg(
            f"m{start + i}",
            "history",
            "semi",
            40,
            content=f"turn {turn} message {i}",
            blocks=m["blocks"],
        )
        for i, m in enumerate(messages)
    ]


class TestLookback:
    def run_conversation(
        self, engine: racs.Racs, turns: int = 50
    ) -> list[tuple[list[int], int | None]]:
        """Plan each turn; return each plan's marker positions and the position of the
        previous turn's deepest entry."""
        tools = seg("tools", "tools", "stable", 3000, content="tool schemas", blocks=8)
        system = seg("system", "system", "stable", 1500, content="be careful", blocks=1)
        history: list[dict[str, Any]] = []
        result = []
        previous_deepest: int | None = None
        for turn in range(turns):
            live = seg("live", "dynamic", "volatile", 30, content=f"question {turn}", blocks=1)
            segments = [tools, system, *history, live]
            positions = {}
            total = 0
            for s in segments:
                total += s["blocks"]
                positions[s["id"]] = total
            plan = engine.plan(plan_input(segments, agentId="agent", model="claude-sonnet-4-5"))
            marks = sorted(positions[d.segment_id] for d in plan.directives)  # type: ignore[union-attr]
            result.append((marks, previous_deepest))
            previous_deepest = marks[-1]
            history.extend(conversation_turn(history, turn))
        return result

    def test_every_turn_finds_the_previous_entry(self) -> None:
        """50 turns: each turn after the first has a marker at most 20 positions past the
        previous turn's deepest cache entry (the positions between consecutive markers of
        the chain never exceed 20)."""
        turns = self.run_conversation(racs.create_racs())
        assert len(turns) == 50
        for index, (marks, previous) in enumerate(turns[1:], start=1):
            assert previous is not None
            chain = [m for m in marks if m >= previous]
            gap = chain[0] - previous
            assert 0 <= gap <= 20, f"turn {index}: previous entry at {previous}, markers {marks}"
            assert len(marks) <= 4

    def test_without_the_rule_long_turns_would_miss(self) -> None:
        """The test above can fail: with the lookback rule off, long turns put the deepest
        marker more than 20 positions past the previous entry."""
        engine = racs.create_racs(profiles={"anthropic": {"lookbackPositions": 0}})
        turns = self.run_conversation(engine)
        misses = [
            i
            for i, (marks, previous) in enumerate(turns[1:], start=1)
            if previous is not None and not any(0 <= m - previous <= 20 for m in marks)
        ]
        assert misses == [5, 10, 15, 20, 25, 30, 35, 40, 45]

    def test_single_breakpoint_budget_warns(self) -> None:
        """With one breakpoint there is no slot for the anchor: a lookback-miss warning."""
        engine = racs.create_racs(profiles={"anthropic": {"maxBreakpoints": 1}})
        base = [seg("sys", "system", "stable", 2000, content="s", blocks=1)]
        history = [seg(f"h{i}", "history", "semi", 10, content=str(i), blocks=1) for i in range(30)]
        engine.plan(
            plan_input(
                [*base, history[0], seg("q", "dynamic", "volatile", 1, content="q", blocks=1)]
            )
        )
        plan = engine.plan(
            plan_input([*base, *history, seg("q", "dynamic", "volatile", 1, content="q", blocks=1)])
        )
        assert [f.code for f in plan.findings] == ["lookback-miss"]
        assert plan.findings[0].segment_id == "h0"

    def test_no_block_counts_no_change(self) -> None:
        """Without block counts the planner behaves exactly as the provider contract."""
        engine = racs.create_racs()
        segments = [seg("sys", tokens=2000, content="s")] + [
            seg(f"h{i}", "history", "semi", 10, content=str(i)) for i in range(40)
        ]
        engine.plan(plan_input(segments[:2]))
        plan = engine.plan(plan_input(segments))
        assert [d.segment_id for d in plan.directives] == ["sys", "h39"]  # type: ignore[union-attr]
