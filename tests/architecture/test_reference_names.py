"""The reference's stateless exports have Python equivalents on ``racs`` (issue 26)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import racs
from racs.core.errors import RacsError


class TestReferenceNames:
    def test_provider_profiles_are_the_shipped_ones_and_read_only(self) -> None:
        assert racs.PROVIDER_PROFILES["anthropic"].min_cacheable_tokens == 1024
        assert racs.PROVIDER_PROFILES["google"].family == "resource"
        with pytest.raises(TypeError):
            racs.PROVIDER_PROFILES["anthropic"] = racs.PROVIDER_PROFILES["openai"]  # type: ignore[index]

    def test_resolve_profile_refines_by_model(self) -> None:
        """The catalog raises Claude Haiku 4.5's minimum to 4,096 tokens; no model: 1,024."""
        assert racs.resolve_profile("anthropic").min_cacheable_tokens == 1024
        assert racs.resolve_profile("anthropic", "claude-haiku-4-5").min_cacheable_tokens == 4096
        assert (
            racs.resolve_profile("anthropic", "no-such-model")
            == racs.PROVIDER_PROFILES["anthropic"]
        )

    def test_an_unknown_provider_is_a_racs_error(self) -> None:
        with pytest.raises(RacsError, match="unknown provider 'acme'"):
            racs.resolve_profile("acme")

    def test_estimate_tokens_counts_utf16_units_by_four(self) -> None:
        """'hello' = 5 units -> 2; an emoji is 2 UTF-16 units, so 'a😀' = 3 units -> 1."""
        assert racs.estimate_tokens("") == 0
        assert racs.estimate_tokens("hello") == 2
        assert racs.estimate_tokens("a😀") == 1
        assert racs.estimate_tokens("x" * 4000) == 1000

    @settings(deadline=None)
    @given(st.text())
    def test_the_estimate_is_what_the_engine_plans_with(self, text: str) -> None:
        """A segment without a tokenizer is planned with exactly this estimate."""
        engine = racs.create_racs(clock=lambda: 1_760_000_000_000)
        plan = engine.plan(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "segments": [{"id": "s", "role": "system", "content": text, "stability": "stable"}],
            }
        )
        assert plan.to_dict()["totalTokens"] == racs.estimate_tokens(text)
