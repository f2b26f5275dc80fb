"""OpenTelemetry: GenAI span attributes to usage (every spelling) and the SDK processor."""

from __future__ import annotations

from typing import Any, Final

import pytest
from opentelemetry.sdk.trace import TracerProvider

import racs
from racs.core.errors import RacsError
from racs.integrations.opentelemetry import RacsSpanProcessor, usage_from_span


class TestUsageFromSpan:
    def test_current_convention_is_inclusive(self) -> None:
        """input_tokens already holds the cache counts."""
        usage = usage_from_span(
            {
                "gen_ai.provider.name": "aws.bedrock",
                "gen_ai.request.model": "claude",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.cache_read.input_tokens": 800,
                "gen_ai.usage.cache_creation.input_tokens": 100,
            }
        )
        assert usage is not None
        assert (
            usage.provider,
            usage.input_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens_5m,
        ) == ("bedrock", 1000, 800, 100)

    def test_openllmetry_anthropic_is_exclusive(self) -> None:
        """OpenLLMetry spellings on Anthropic: 10 + 800 + 100 = 910 all-in."""
        usage = usage_from_span(
            {
                "gen_ai.system": "anthropic",
                "gen_ai.usage.prompt_tokens": 10,
                "gen_ai.usage.cache_read_input_tokens": 800,
                "gen_ai.usage.cache_creation_input_tokens": 100,
            }
        )
        assert usage is not None and usage.input_tokens == 910

    def test_openllmetry_openai_cached_tokens(self) -> None:
        """gen_ai.usage.cached_tokens is inside the input count."""
        usage = usage_from_span(
            {
                "gen_ai.system": "openai",
                "gen_ai.usage.input_tokens": 500,
                "gen_ai.usage.cached_tokens": 256,
            }
        )
        assert usage is not None and (usage.input_tokens, usage.cache_read_tokens) == (500, 256)

    def test_openinference(self) -> None:
        """OpenInference prompt counts include cache reads and writes."""
        usage = usage_from_span(
            {
                "llm.provider": "google",
                "llm.model_name": "gemini-2.5-pro",
                "llm.token_count.prompt": 3000,
                "llm.token_count.prompt_details.cache_read": 2048,
            }
        )
        assert usage is not None
        assert (usage.provider, usage.input_tokens, usage.cache_read_tokens) == (
            "google",
            3000,
            2048,
        )

    def test_provider_names_and_non_genai_spans(self) -> None:
        """Value mapping; a span naming no provider and reporting no tokens is not a GenAI
        usage."""
        for value, expected in [
            ("gcp.vertex_ai", "google"),
            ("mistral_ai", "mistral"),
            ("x_ai", "xai"),
            ("something", "custom"),
        ]:
            usage = usage_from_span({"gen_ai.provider.name": value, "gen_ai.usage.input_tokens": 1})
            assert usage is not None and usage.provider == expected
        assert usage_from_span({"http.method": "GET"}) is None
        assert usage_from_span({"gen_ai.usage.input_tokens": None}) is None


class TestProcessor:
    def test_records_finished_genai_spans(self) -> None:
        """Real SDK: a finished GenAI span lands in the engine; other spans are ignored."""
        engine = racs.create_racs()
        provider = TracerProvider()
        provider.add_span_processor(RacsSpanProcessor(engine))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("chat claude") as span:
            span.set_attribute("gen_ai.provider.name", "anthropic")
            span.set_attribute("gen_ai.request.model", "claude-sonnet-4-6")
            span.set_attribute("gen_ai.usage.input_tokens", 2312)
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", 2000)
            span.set_attribute("gen_ai.prompt", "never read")
        with tracer.start_as_current_span("http"):
            pass
        with tracer.start_as_current_span("bad") as span:
            span.set_attribute("gen_ai.usage.input_tokens", 5)
            span.set_attribute("gen_ai.request.model", "")
        provider.shutdown()
        stats = engine.stats()
        assert stats.calls == 2 and stats.read_tokens == 2000


class TestReferenceSpans:
    """What @takk/racs's span reader derives and racs used to drop (issue 17)."""

    def test_cache_counts_without_input_tokens(self) -> None:
        """No input count: the usage is derived from the cache counts, 800 + 100 = 900."""
        usage = usage_from_span(
            {
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.cache_read.input_tokens": 800,
                "gen_ai.usage.cache_creation.input_tokens": 100,
            }
        )
        assert usage is not None
        assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens_5m) == (
            900,
            800,
            100,
        )

    def test_decimal_string_counts(self) -> None:
        """Exporters that stringify numbers: "1000" and "800" are read as counts."""
        usage = usage_from_span(
            {
                "gen_ai.system": "anthropic",
                "gen_ai.usage.input_tokens": "1000",
                "gen_ai.usage.cache_read.input_tokens": "800",
            }
        )
        assert usage is not None and (usage.input_tokens, usage.cache_read_tokens) == (1000, 800)
        assert usage_from_span({"gen_ai.usage.input_tokens": "1e3"}) is None
        assert usage_from_span({"gen_ai.usage.input_tokens": "-5"}) is None

    def test_cache_write_input_tokens(self) -> None:
        """`gen_ai.usage.cache_write_input_tokens` is a write count (exclusive for
        Anthropic, like the other OpenLLMetry spellings): 10 + 300 = 310 all-in."""
        usage = usage_from_span(
            {
                "gen_ai.system": "anthropic",
                "gen_ai.usage.prompt_tokens": 10,
                "gen_ai.usage.cache_write_input_tokens": 300,
            }
        )
        assert usage is not None
        assert (usage.input_tokens, usage.cache_write_tokens_5m) == (310, 300)

    def test_fallback_provider_and_model(self) -> None:
        """A span naming neither gets the caller's provider and model; the span wins."""
        attrs = {"gen_ai.usage.input_tokens": 50}
        usage = usage_from_span(attrs, provider="anthropic", model="claude-haiku-4-5")
        assert usage is not None and (usage.provider, usage.model) == (
            "anthropic",
            "claude-haiku-4-5",
        )
        named = {**attrs, "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1"}
        usage = usage_from_span(named, provider="anthropic", model="claude-haiku-4-5")
        assert usage is not None and (usage.provider, usage.model) == ("openai", "gpt-4.1")

    def test_end_time_is_the_timestamp(self) -> None:
        """A finished SDK span's end time (ns) becomes the usage's timestamp (ms)."""
        seen: list[racs.core.model.CacheUsage] = []
        provider = TracerProvider()

        class Capture(RacsSpanProcessor):
            def on_end(self, span: Any) -> None:
                usage = usage_from_span(span)
                assert usage is not None
                seen.append(usage)

        provider.add_span_processor(Capture(racs.create_racs()))
        span = provider.get_tracer("t").start_span("chat", start_time=1_000_000_000)
        span.set_attribute("gen_ai.system", "anthropic")
        span.set_attribute("gen_ai.usage.input_tokens", 5)
        span.end(end_time=1_750_000_000_123_456_789)
        assert [u.timestamp for u in seen] == [1_750_000_000_123]


class TestReferenceShapes:
    """Span shapes and fallbacks @takk/racs accepts (issue 26)."""

    ATTRS: Final = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_read.input_tokens": 800,
    }

    def test_span_like_mapping_reads_its_attributes(self) -> None:
        """``{"attributes": {...}}`` is read like the SDK span it stands for."""
        usage = usage_from_span({"name": "chat", "attributes": self.ATTRS})
        assert usage is not None
        assert (usage.provider, usage.input_tokens, usage.cache_read_tokens) == (
            "anthropic",
            1000,
            800,
        )

    def test_span_like_mapping_end_time(self) -> None:
        """Its end time, SDK nanoseconds or a JavaScript HrTime [s, ns], is the timestamp."""
        ns = usage_from_span({"attributes": self.ATTRS, "end_time": 1_750_000_000_123_456_789})
        hr = usage_from_span({"attributes": self.ATTRS, "endTime": [1_750_000_000, 123_456_789]})
        assert ns is not None and hr is not None
        assert (ns.timestamp, hr.timestamp) == (1_750_000_000_123, 1_750_000_000_123)

    def test_fallback_as_a_mapping(self) -> None:
        """``usage_from_span(span, {"provider": ..., "model": ...})`` fills in what the
        span does not name; the span still wins."""
        attrs = {"gen_ai.usage.input_tokens": 50}
        usage = usage_from_span(attrs, {"provider": "anthropic", "model": "claude-haiku-4-5"})
        assert usage is not None
        assert (usage.provider, usage.model) == ("anthropic", "claude-haiku-4-5")
        named = {**attrs, "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1"}
        usage = usage_from_span({"attributes": named}, {"provider": "anthropic", "model": "x"})
        assert usage is not None and (usage.provider, usage.model) == ("openai", "gpt-4.1")

    def test_fallback_that_is_not_a_mapping(self) -> None:
        """A fallback of the wrong type is an input error racs callers catch."""
        with pytest.raises(RacsError) as caught:
            usage_from_span(self.ATTRS, "anthropic")  # type: ignore[arg-type]
        assert caught.value.code == "ERR_INVALID_INPUT"

    def test_provider_without_counts_is_a_zero_usage(self) -> None:
        """A GenAI span naming its provider but no token counts is a zero-token call."""
        usage = usage_from_span(
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "x": None}
        )
        assert usage is not None
        assert (usage.provider, usage.model, usage.input_tokens, usage.cache_read_tokens) == (
            "openai",
            "gpt-4o",
            0,
            0,
        )
        nulls = usage_from_span({"gen_ai.system": "openai", "gen_ai.usage.input_tokens": None})
        assert nulls is not None and nulls.input_tokens == 0

    def test_request_model_wins_over_response_model(self) -> None:
        """The requested model names the usage (price cards are keyed by it)."""
        usage = usage_from_span(
            {
                **self.ATTRS,
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            }
        )
        assert usage is not None and usage.model == "claude-sonnet-4-5"
        only_response = {**self.ATTRS, "gen_ai.response.model": "claude-sonnet-4-5-20250929"}
        usage = usage_from_span(only_response)
        assert usage is not None and usage.model == "claude-sonnet-4-5-20250929"

    def test_processor_records_zero_token_spans_as_calls(self) -> None:
        """Through the real SDK: a GenAI span without counts counts as one call, 0 tokens."""
        engine = racs.create_racs()
        provider = TracerProvider()
        provider.add_span_processor(RacsSpanProcessor(engine))
        with provider.get_tracer("t").start_as_current_span("chat") as span:
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", "gpt-4o")
        provider.shutdown()
        stats = engine.stats()
        assert (stats.calls, stats.uncached_tokens, stats.read_tokens) == (1, 0, 0)
