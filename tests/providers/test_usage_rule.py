"""One reader per wire format and one rule for every reader (issue 22): a count outside
0..2**32-1 or a split that does not add up is refused and named, never priced or clamped;
adapters, importers and integrations read the same object the same way."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.limits import MAX_TOKENS
from racs.integrations.litellm import usage_from_litellm
from racs.integrations.opentelemetry import usage_from_span
from racs.providers import anthropic, bedrock, gemini, openai
from racs.providers import usage as wire
from racs.providers.usage import UsageRefused
from racs.traffic.problems import Problems
from racs.traffic.sources import read

OVER = f"is out of bounds (over {MAX_TOKENS:,})"


class TestTheRule:
    def test_the_bound_is_exact(self) -> None:
        """2**32 - 1 is a count; 2**32 is refused."""
        assert wire.count(MAX_TOKENS, "n") == MAX_TOKENS
        with pytest.raises(UsageRefused, match=r"^ERR_INVALID_INPUT: n is out of bounds"):
            wire.count(MAX_TOKENS + 1, "n")

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (-1, "is negative"),
            (1.5, "is not an integer"),
            (float("nan"), "is not finite"),
            (float("inf"), "is not finite"),
            (1e308, OVER),
            ("12", "is not an integer"),
            (True, "is not an integer"),
        ],
    )
    def test_what_is_refused(self, value: Any, reason: str) -> None:
        with pytest.raises(UsageRefused) as exc:
            wire.count(value, "usage.x")
        assert (exc.value.field, exc.value.reason) == ("usage.x", reason)

    def test_text_counts_where_the_format_writes_text(self) -> None:
        assert wire.count("1200", "n", text=True) == 1200
        for bad in ("1e3", "-5", "12.5"):
            with pytest.raises(UsageRefused):
                wire.count(bad, "n", text=True)

    def test_the_all_in_input_is_bounded_too(self) -> None:
        with pytest.raises(UsageRefused, match="usage input is out of bounds"):
            wire.anthropic({"input_tokens": MAX_TOKENS, "cache_read_input_tokens": 1})


class TestSplits:
    def test_anthropic_split_must_add_up(self) -> None:
        usage = {
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 100},
        }
        with pytest.raises(
            UsageRefused, match=r"cache_creation does not add up to its total .200 of 300"
        ):
            wire.anthropic(usage)

    @pytest.mark.parametrize("split", [None, {}, {"ephemeral_5m_input_tokens": 0}])
    def test_no_split_means_5m(self, split: Any) -> None:
        usage = {"input_tokens": 1, "cache_creation_input_tokens": 40, "cache_creation": split}
        assert wire.anthropic(usage) == Tokens(fresh=1, write_5m=40)

    def test_bedrock_details_must_add_up(self) -> None:
        usage = {"cacheWriteInputTokens": 300, "cacheDetails": [{"ttl": "1h", "inputTokens": 100}]}
        with pytest.raises(UsageRefused, match="cacheDetails does not add up"):
            wire.bedrock(usage)
        usage["cacheDetails"].append({"ttl": "5m", "inputTokens": 200})
        assert wire.bedrock(usage) == Tokens(write_5m=200, write_1h=100)

    def test_inclusive_parts_must_fit(self) -> None:
        """OpenAI: cached tokens above prompt_tokens are refused, not read as all cache."""
        with pytest.raises(UsageRefused, match="prompt_tokens is less than its cache"):
            wire.openai({"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 200}})


class TestLiveAdaptersNeverRaise:
    RESPONSES: Any = (
        (anthropic.messages, {"usage": {"input_tokens": 2**40}}, "usage.input_tokens"),
        (openai.chat, {"usage": {"prompt_tokens": -3}}, "usage.prompt_tokens"),
        (openai.responses, {"usage": {"input_tokens": float("inf")}}, "usage.input_tokens"),
        (gemini.generate_content, {"usageMetadata": {"promptTokenCount": 2**33}}, "usage_metadata"),
        (bedrock.converse, {"usage": {"inputTokens": 1e12}}, "usage.inputTokens"),
    )

    @pytest.mark.parametrize(("adapter", "response", "field"), RESPONSES)
    def test_a_refused_report_is_zero_tokens_and_a_named_warning(
        self, adapter: Any, response: Any, field: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="racs.providers"):
            usage = adapter.usage_from(response, model="m")
        assert (usage.input_tokens, usage.cache_read_tokens) == (0, 0)
        assert any(field in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)

    def test_integrations_refuse_and_name(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING):
            assert (
                usage_from_span({"gen_ai.system": "openai", "gen_ai.usage.input_tokens": 1e12})
                is None
            )
            kwargs = {"custom_llm_provider": "openai", "model": "gpt-4.1"}
            assert usage_from_litellm(kwargs, {"usage": {"prompt_tokens": -1}}) is None
        text = " ".join(r.getMessage() for r in caplog.records)
        assert "gen_ai.usage.input_tokens is out of bounds" in text
        assert "prompt_tokens is negative" in text


ANTHROPIC = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(0, 10**6),
        "cache_read_input_tokens": st.integers(0, 10**6),
        "output_tokens": st.integers(0, 10**5),
    }
).flatmap(
    lambda base: st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)).map(
        lambda s: {
            **base,
            "cache_creation_input_tokens": s[0] + s[1],
            "cache_creation": {
                "ephemeral_5m_input_tokens": s[0],
                "ephemeral_1h_input_tokens": s[1],
            },
        }
    )
)


class TestOneReading:
    @given(usage=ANTHROPIC)
    def test_adapter_and_claude_code_importer_agree(self, usage: dict[str, Any]) -> None:
        """The same Anthropic usage object: the live adapter's all-in usage and the
        Claude Code importer's token classes are the same numbers."""
        import tempfile

        live = anthropic.usage_from({"model": "claude-opus-4-6", "usage": usage})
        line = {
            "type": "assistant",
            "sessionId": "s",
            "timestamp": "2026-02-10T21:11:59Z",
            "requestId": "r",
            "message": {"model": "claude-opus-4-6", "id": "m", "role": "assistant", "usage": usage},
        }
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "s.jsonl"
            f.write_text(json.dumps(line) + "\n")
            problems = Problems()
            [r] = list(read([f], problems))
        t = r.tokens
        assert not problems
        assert (live.input_tokens, live.cache_read_tokens) == (t.input, t.read)
        assert (live.cache_write_tokens_5m, live.cache_write_tokens_1h) == (t.write_5m, t.write_1h)
        assert t == wire.anthropic(usage)
