"""Bad input raises RacsError(ERR_INVALID_INPUT) naming the field; nothing else escapes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import plan_input, seg
from racs.core.facts import PROVIDERS
from racs.core.model import ROLES, STABILITIES


def error_of(value: Any) -> racs.RacsError:
    with pytest.raises(racs.RacsError) as err:
        racs.create_racs().plan(value)
    assert err.value.code == "ERR_INVALID_INPUT"
    return err.value


class TestPlanInputValidation:
    @pytest.mark.parametrize(
        ("value", "field"),
        [
            ("not a mapping", "input"),
            ({"provider": "anthropic", "segments": [seg("s")]}, "model"),
            (plan_input([seg("s")], model=""), "model"),
            (plan_input([]), "segments"),
            ({"provider": "anthropic", "model": "m"}, "segments"),
            (
                plan_input([{"role": "system", "stability": "stable", "content": "x"}]),
                "segments[0].id",
            ),
            (plan_input([seg("a"), seg("a")]), "duplicate"),
            (plan_input([{"id": "a", "role": "system", "stability": "stable"}]), "segments[0]"),
            (plan_input([seg("a", contentHash="")]), "segments[0]"),
            (plan_input([seg("a", tokens=-1)]), "segments[0].tokens"),
            (plan_input([seg("a", tokens=math.inf)]), "segments[0].tokens"),
            (plan_input([seg("a", tokens=math.nan)]), "segments[0].tokens"),
            (plan_input([seg("a", tokens=True)]), "segments[0].tokens"),
            (plan_input([seg("a", tokens="5")]), "segments[0].tokens"),
            (plan_input([seg("a")], provider="acme"), "provider"),
            (plan_input([seg("a", role="prelude")]), "segments[0].role"),
            (plan_input([seg("a", stability="sometimes")]), "segments[0].stability"),
            (plan_input([seg("ok"), seg("b", content=5)]), "segments[1].content"),
            (plan_input([seg("a")], reuse={"intervalSeconds": -5}), "reuse.intervalSeconds"),
            (plan_input([seg("a")], reuse={"callsPerHour": "often"}), "reuse.callsPerHour"),
        ],
    )
    def test_message_names_the_field(self, value: Any, field: str) -> None:
        """Each malformed field raises ERR_INVALID_INPUT whose message names it."""
        assert field in error_of(value).message

    def test_snake_case_and_dataclasses_are_accepted(self) -> None:
        """Dataclasses, snake_case and camelCase mappings give the same plan."""
        camel = plan_input(
            [seg("s", tokens=2000, contentHash="abc")], agentId="a1", reuse={"intervalSeconds": 60}
        )
        snake = {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "agent_id": "a1",
            "segments": [
                {
                    "id": "s",
                    "role": "system",
                    "stability": "stable",
                    "content_hash": "abc",
                    "tokens": 2000,
                }
            ],
            "reuse": {"interval_seconds": 60},
        }
        typed = racs.PlanInput(
            provider="anthropic",
            model="claude-sonnet-4-5",
            agent_id="a1",
            segments=(
                racs.PromptSegment("s", "system", "stable", content_hash="abc", tokens=2000),
            ),
            reuse=racs.ExpectedReuse(interval_seconds=60),
        )
        plans = [racs.create_racs().plan(v).to_dict() for v in (camel, snake, typed)]
        assert plans[0] == plans[1] == plans[2]


class TestUsageValidation:
    @pytest.mark.parametrize(
        ("value", "field"),
        [
            ({"model": "m", "inputTokens": 1, "cacheReadTokens": 0}, "usage.provider"),
            ({"provider": "anthropic", "inputTokens": 1, "cacheReadTokens": 0}, "usage.model"),
            ({"provider": "anthropic", "model": "m", "cacheReadTokens": 0}, "usage.inputTokens"),
            ({"provider": "anthropic", "model": "m", "inputTokens": 1}, "usage.cacheReadTokens"),
            (
                {"provider": "anthropic", "model": "m", "inputTokens": -1, "cacheReadTokens": 0},
                "usage.inputTokens",
            ),
            (
                {
                    "provider": "anthropic",
                    "model": "m",
                    "inputTokens": 1,
                    "cacheReadTokens": 0,
                    "cacheWriteTokens5m": math.inf,
                },
                "usage.cacheWriteTokens5m",
            ),
            (
                {
                    "provider": "anthropic",
                    "model": "m",
                    "inputTokens": 1,
                    "cacheReadTokens": 0,
                    "timestamp": -1,
                },
                "usage.timestamp",
            ),
            ([], "usage"),
        ],
    )
    def test_bad_usage(self, value: Any, field: str) -> None:
        """record() validates like plan(): finite, >= 0, required fields present."""
        engine = racs.create_racs()
        with pytest.raises(racs.RacsError) as err:
            engine.record(value)
        assert err.value.code == "ERR_INVALID_INPUT"
        assert field in err.value.message
        assert engine.stats().calls == 0  # nothing half-written


class TestOptions:
    @pytest.mark.parametrize(
        "options",
        [
            {"seed": "7"},
            {"key_scheme": "md5"},
            {"max_prefixes": 0},
            {"pricing": {"m": {"cacheReadPerMTok": 1}}},
            {"pricing": {"m": {"inputPerMTok": -1}}},
            {"profiles": {"acme": {}}},
            {"profiles": {"anthropic": {"ttls": ["2h"]}}},
            {"profiles": {"anthropic": {"bogus": 1}}},
            {"clock": 5},
        ],
    )
    def test_bad_options(self, options: dict[str, Any]) -> None:
        """create_racs refuses bad options with ERR_INVALID_INPUT."""
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(**options)
        assert err.value.code == "ERR_INVALID_INPUT"

    def test_tokenizer_replaces_the_estimate_once_per_content(self) -> None:
        """A tokenizer replaces ceil(len/4) and runs once per distinct content."""
        calls: list[str] = []

        def tokenizer(text: str) -> int:
            calls.append(text)
            return len(text.split())

        engine = racs.create_racs(tokenizer=tokenizer)
        inp = plan_input(
            [seg("s", content="a b c d"), seg("t", "dynamic", "volatile", content="e f")]
        )
        for _ in range(3):
            plan = engine.plan(inp)
        assert (plan.stable_tokens, plan.total_tokens) == (4, 6)
        assert sorted(calls) == ["a b c d", "e f"]

    def test_failing_tokenizer_is_a_racs_error(self) -> None:
        """The host's tokenizer failing surfaces as ERR_INVALID_INPUT, not a raw exception."""
        engine = racs.create_racs(tokenizer=lambda text: 1 / 0)
        with pytest.raises(racs.RacsError):
            engine.plan(plan_input([seg("s", content="x")]))


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

number_like = st.one_of(
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**400),
    st.floats(),
    st.booleans(),
    st.text(max_size=3),
)

segment_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=4), st.integers(), st.none()),
        "role": st.one_of(st.sampled_from(ROLES), st.text(max_size=4)),
        "stability": st.one_of(st.sampled_from(STABILITIES), st.text(max_size=4)),
        "content": st.one_of(st.text(max_size=60), st.integers(), st.none()),
        "contentHash": st.one_of(st.text(max_size=8), st.none()),
        "tokens": number_like,
        "blocks": number_like,
    },
)

input_like = st.fixed_dictionaries(
    {},
    optional={
        "provider": st.one_of(st.sampled_from(PROVIDERS), st.text(max_size=5)),
        "model": st.one_of(
            st.sampled_from(["claude-sonnet-4-5", "gpt-5.6", "gemini-2.5-pro", "m"]),
            st.text(max_size=5),
            st.integers(),
        ),
        "agentId": st.one_of(st.text(max_size=5), st.none(), st.integers()),
        "segments": st.one_of(st.lists(segment_like, max_size=6), json_like),
        "reuse": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {}, optional={"intervalSeconds": number_like, "callsPerHour": number_like}
            ),
            json_like,
        ),
    },
)


class TestNothingElseEscapes:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(json_like, input_like))
    def test_plan_and_lint_raise_only_racs_errors(self, value: Any) -> None:
        """Arbitrary JSON-like input: plan and lint either succeed or raise RacsError."""
        engine = racs.create_racs(pricing={"gemini-2.5-pro": {"inputPerMTok": 1.25}})
        for call in (engine.lint, engine.plan):
            try:
                result = call(value)
            except racs.RacsError as err:
                assert err.code == "ERR_INVALID_INPUT"
            else:
                if isinstance(result, racs.CachePlan):
                    import json

                    json.dumps(result.to_dict(), allow_nan=False)  # the wire form is valid JSON

    @settings(max_examples=200, deadline=None)
    @given(input_like)
    def test_two_engines_same_seed_same_plans(self, value: Any) -> None:
        """Determinism: two engines, same seed, same calls -> identical plans."""
        a, b = racs.create_racs(clock=lambda: 0), racs.create_racs(clock=lambda: 0)
        try:
            pa = [a.plan(value).to_dict() for _ in range(2)]
        except racs.RacsError:
            return
        pb = [b.plan(value).to_dict() for _ in range(2)]
        assert pa == pb

    @settings(max_examples=200, deadline=None)
    @given(json_like)
    def test_record_raises_only_racs_errors(self, value: Any) -> None:
        """Arbitrary input to record() either counts or raises RacsError."""
        engine = racs.create_racs()
        try:
            engine.record(value)
        except racs.RacsError as err:
            assert err.code == "ERR_INVALID_INPUT"


class TestFactsCache:
    def test_bounded_by_entries_and_characters(self) -> None:
        """Per-content facts live in an LRU capped by entry count and total characters;
        content larger than the budget is never retained."""
        from racs.planning.lint import FactsCache

        cache = FactsCache(max_entries=3, max_chars=100)
        for text in ("a" * 10, "b" * 10, "c" * 10, "d" * 10):
            cache.get(text)
        assert len(cache) == 3 and cache.chars == 30
        cache.get("b" * 10)  # touch: b is now the most recent
        cache.get("e" * 90)  # 120 chars > 100: the two least recent (c, d) go
        assert len(cache) == 2 and cache.chars == 100
        cache.get("z" * 500)
        assert cache.chars == 100  # too big to keep

    def test_engine_scans_each_distinct_content_once(self) -> None:
        """Pattern scans and hashing run once per distinct content, not once per plan."""
        from unittest import mock

        from racs.planning import lint

        engine = racs.create_racs()
        inp = plan_input(
            [
                seg("s", tokens=2000, content="stable text " * 100),
                seg("t", "dynamic", "volatile", content="x"),
            ]
        )
        with mock.patch.object(lint, "timestamp_kinds", wraps=lint.timestamp_kinds) as spy:
            for i in range(50):
                inp["segments"][1]["content"] = f"turn {i}"
                engine.plan(inp)
        assert spy.call_count == 1
