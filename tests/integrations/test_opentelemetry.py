"""OpenTelemetry: GenAI span attributes to usage (every spelling) and the SDK processor."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

import racs
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
        """Value mapping; a span without input tokens is not a GenAI usage."""
        for value, expected in [
            ("gcp.vertex_ai", "google"),
            ("mistral_ai", "mistral"),
            ("x_ai", "xai"),
            ("something", "custom"),
        ]:
            usage = usage_from_span({"gen_ai.provider.name": value, "gen_ai.usage.input_tokens": 1})
            assert usage is not None and usage.provider == expected
        assert usage_from_span({"http.method": "GET"}) is None
        nulls = {"gen_ai.system": "openai", "gen_ai.usage.input_tokens": None}
        assert usage_from_span(nulls) is None


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
