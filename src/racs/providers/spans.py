"""OpenTelemetry GenAI span attributes as a wire format of usage (read by the span
processor in ``racs.integrations.opentelemetry`` and the OTLP importer alike).

Attribute spellings and their rules (only token counts are read; prompt and completion
attributes are never touched):

- current GenAI conventions: ``gen_ai.usage.input_tokens`` INCLUDES
  ``gen_ai.usage.cache_read.input_tokens`` and ``gen_ai.usage.cache_creation.input_tokens``;
- OpenLLMetry: ``gen_ai.usage.cache_read_input_tokens`` /
  ``gen_ai.usage.cache_creation_input_tokens`` (or ``cache_write_input_tokens``) are
  EXCLUDED from the input count for Anthropic (added) and included for everyone else;
  ``gen_ai.usage.prompt_tokens`` is its older input count; ``gen_ai.usage.cached_tokens``
  is inclusive;
- OpenInference: ``llm.token_count.prompt`` INCLUDES
  ``llm.token_count.prompt_details.cache_read`` / ``cache_write``.

As in @takk/racs: counts may be decimal strings ("1200"), a span with cache counts but no
input count is all cache (input = reads + writes), and a finished span's end time is the
usage's timestamp. Counts follow the rule of ``racs.providers.usage`` (a bad or
out-of-bound count refuses the span, ``UsageRefused``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.catalog import reported_write_tier
from racs.core.facts import TELEMETRY_NAMES, provider_named
from racs.providers.usage import count, inclusive, tokens

INPUT: Final = "gen_ai.usage.input_tokens"
READ: Final = "gen_ai.usage.cache_read.input_tokens"
WRITE: Final = "gen_ai.usage.cache_creation.input_tokens"
READ_OLD: Final = "gen_ai.usage.cache_read_input_tokens"
WRITE_OLD: Final = "gen_ai.usage.cache_creation_input_tokens"
WRITE_OLD_ALT: Final = "gen_ai.usage.cache_write_input_tokens"
PROMPT_OLD: Final = "gen_ai.usage.prompt_tokens"
CACHED_OLD: Final = "gen_ai.usage.cached_tokens"
OI_PROMPT: Final = "llm.token_count.prompt"
OI_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OUTPUT: Final = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
PROVIDER_KEYS: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")


@dataclass(frozen=True, slots=True)
class SpanUsage:
    """What a GenAI span says about one call."""

    provider: str
    model: str | None
    tokens: Tokens
    prefix_key: str | None = None
    agent_id: str | None = None
    end_ms: int | None = None
    """The span's end time, ms since the epoch (``None`` when unknown)."""


def provider_of(value: Any) -> str:
    """The racs provider id of a ``gen_ai.provider.name`` / ``gen_ai.system`` value."""
    return provider_named(value, TELEMETRY_NAMES)


def _text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def attributes_and_end(span: Any) -> tuple[Mapping[str, Any] | None, Any]:
    """A span's attributes and end time (ns), for SDK spans, span-like mappings and bare
    attribute mappings alike."""
    if isinstance(span, Mapping):
        inner = span.get("attributes")
        if isinstance(inner, Mapping):
            return inner, _end_ns(span.get("end_time", span.get("endTime")))
        return span, None
    attrs = getattr(span, "attributes", None)
    if not isinstance(attrs, Mapping):
        return None, None
    return attrs, _end_ns(getattr(span, "end_time", None))


def _end_ns(value: Any) -> int | None:
    """Nanoseconds of an SDK end time (int ns) or a JavaScript HrTime ``[s, ns]``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        seconds, nanos = value
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (seconds, nanos)):
            return int(seconds) * 1_000_000_000 + int(nanos)
    return None


def _num(attrs: Mapping[str, Any], key: str) -> int | None:
    value = attrs.get(key)
    return None if value is None else count(value, key, text=True)


def span_usage(
    span: Any, *, provider: str | None = None, model: str | None = None
) -> SpanUsage | None:
    """The usage of a GenAI span, ``None`` when it is not one; raises ``UsageRefused``.

    ``provider`` / ``model`` fill in what the span does not name (the span wins). A span
    naming its provider but reporting no token counts gives zero tokens.
    """
    attrs, end_ns = attributes_and_end(span)
    if attrs is None:
        return None
    named = _text(attrs, *PROVIDER_KEYS)
    pid = provider_of(named if named is not None else provider)
    # The requested model first, as @takk/racs does: price cards are keyed by the name the
    # host asked for, while responses often carry a dated snapshot id.
    model = _text(attrs, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name") or model
    current_read, current_write = _num(attrs, READ), _num(attrs, WRITE)
    old_read = _num(attrs, READ_OLD)
    old_write = _num(attrs, WRITE_OLD)
    if old_write is None:
        old_write = _num(attrs, WRITE_OLD_ALT)
    total = _num(attrs, INPUT)
    total_key = INPUT
    if total is None:
        total, total_key = _num(attrs, PROMPT_OLD), PROMPT_OLD
    read = write = 0
    oi_total = _num(attrs, OI_PROMPT) if total is None else None
    if oi_total is not None:
        total, total_key = oi_total, OI_PROMPT
        read, write = _num(attrs, OI_READ) or 0, _num(attrs, OI_WRITE) or 0
    elif current_read is not None or current_write is not None:
        read, write = current_read or 0, current_write or 0
    elif old_read is not None or old_write is not None:
        read, write = old_read or 0, old_write or 0
        if total is not None and pid == "anthropic":
            total += read + write  # OpenLLMetry's Anthropic input count excludes cache
    elif total is not None:
        read = _num(attrs, CACHED_OLD) or 0
    elif named is None:
        return None  # not a GenAI span (an HTTP span, a tool call, ...)
    else:
        total = 0  # a GenAI call that reported no counts is still a call
    output = next((_num(attrs, k) for k in OUTPUT if attrs.get(k) is not None), 0) or 0
    fresh = inclusive(total, read, write, total_key)
    tier_30m = reported_write_tier(pid, model or "unknown") == "30m"
    return SpanUsage(
        provider=pid,
        model=model,
        tokens=tokens(
            fresh,
            read,
            write_5m=0 if tier_30m else write,
            write_30m=write if tier_30m else 0,
            output=output,
            name="span",
        ),
        prefix_key=_text(attrs, "racs.prefix_key"),
        agent_id=_text(attrs, "gen_ai.agent.id"),
        end_ms=end_ns // 1_000_000 if isinstance(end_ns, int) and end_ns > 0 else None,
    )
