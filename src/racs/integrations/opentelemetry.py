"""OpenTelemetry GenAI spans to CacheUsage, and a span processor that records them.

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
usage's timestamp.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from racs.core.catalog import reported_write_tier
from racs.core.errors import invalid
from racs.core.facts import TELEMETRY_NAMES, provider_named
from racs.core.model import CacheUsage
from racs.engine import Racs

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span
    from opentelemetry.sdk.trace import SpanProcessor as _Base
else:
    try:
        from opentelemetry.sdk.trace import SpanProcessor as _Base
    except ImportError:  # usage_from_span works on plain mappings without the SDK
        _Base = object

_log = logging.getLogger(__name__)

PROVIDER_NAMES: Final[Mapping[str, str]] = TELEMETRY_NAMES
"""GenAI / OpenInference provider values -> racs provider ids (unknown ones: ``custom``)."""

_INPUT_CURRENT: Final = "gen_ai.usage.input_tokens"
_READ_CURRENT: Final = "gen_ai.usage.cache_read.input_tokens"
_WRITE_CURRENT: Final = "gen_ai.usage.cache_creation.input_tokens"
_READ_OLD: Final = "gen_ai.usage.cache_read_input_tokens"
_WRITE_OLD: Final = "gen_ai.usage.cache_creation_input_tokens"
_WRITE_OLD_ALT: Final = "gen_ai.usage.cache_write_input_tokens"
_PROMPT_OLD: Final = "gen_ai.usage.prompt_tokens"
_CACHED_OLD: Final = "gen_ai.usage.cached_tokens"
_OI_PROMPT: Final = "llm.token_count.prompt"
_OI_READ: Final = "llm.token_count.prompt_details.cache_read"
_OI_WRITE: Final = "llm.token_count.prompt_details.cache_write"


def provider_of(value: Any) -> str:
    """The racs provider id of a ``gen_ai.provider.name`` / ``gen_ai.system`` value."""
    return provider_named(value, TELEMETRY_NAMES)


_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _num(attrs: Mapping[str, Any], key: str) -> float | None:
    value = attrs.get(key)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        # Some exporters stringify attributes; plain decimals only, never "1e3" or "-5".
        text = value.strip()
        value = float(text) if "." in text else int(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or value == float("inf"):
        return None
    return value


def _text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


_PROVIDER_KEYS: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _attributes_and_end(span: Any) -> tuple[Mapping[str, Any] | None, Any]:
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


def usage_from_span(
    span: Any,
    fallback: Mapping[str, Any] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> CacheUsage | None:
    """The all-in CacheUsage of a GenAI span, or ``None`` when it is not a GenAI span.

    ``span`` is a ReadableSpan, a span-like mapping ``{"attributes": {...}}`` (as the
    JavaScript SDK and OTLP JSON exporters give it) or a plain mapping of attributes.
    ``fallback`` (``{"provider": ..., "model": ...}``) or the ``provider`` / ``model``
    keywords fill in what the span does not name; the span wins. A span naming its
    provider but reporting no token counts gives a zero-token usage.
    """
    attrs, end_ns = _attributes_and_end(span)
    if attrs is None:
        return None
    if fallback is not None:
        if not isinstance(fallback, Mapping):
            raise invalid("usage_from_span: fallback must be a mapping of provider and model")
        provider = provider if provider is not None else _as_text(fallback.get("provider"))
        model = model if model is not None else _as_text(fallback.get("model"))
    named = _text(attrs, *_PROVIDER_KEYS)
    provider = provider_of(named if named is not None else provider)
    # The requested model first, as @takk/racs does: price cards are keyed by the name the
    # host asked for, while responses often carry a dated snapshot id.
    model = _text(attrs, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name") or model
    read = write = 0.0
    current_read = _num(attrs, _READ_CURRENT)
    current_write = _num(attrs, _WRITE_CURRENT)
    old_read = _num(attrs, _READ_OLD)
    old_write = _num(attrs, _WRITE_OLD)
    if old_write is None:
        old_write = _num(attrs, _WRITE_OLD_ALT)
    total = _num(attrs, _INPUT_CURRENT)
    if total is None:
        total = _num(attrs, _PROMPT_OLD)
    oi_total = _num(attrs, _OI_PROMPT) if total is None else None
    if oi_total is not None:
        total = oi_total
        read = _num(attrs, _OI_READ) or 0
        write = _num(attrs, _OI_WRITE) or 0
    elif current_read is not None or current_write is not None:
        read, write = current_read or 0, current_write or 0
        if total is None:
            total = read + write  # no input count: the whole input was cache
    elif old_read is not None or old_write is not None:
        read, write = old_read or 0, old_write or 0
        if total is None:
            total = read + write
        elif provider == "anthropic":
            total += read + write  # OpenLLMetry's Anthropic input count excludes cache
    elif total is not None:
        read = _num(attrs, _CACHED_OLD) or 0
    elif named is not None:
        total = 0  # a GenAI call that reported no counts is still a call
    else:
        return None
    tier_30m = reported_write_tier(provider, model or "unknown") == "30m"
    return CacheUsage(
        provider=provider,
        model=model or "unknown",
        input_tokens=max(total, read + write),
        cache_read_tokens=read,
        cache_write_tokens_5m=0 if tier_30m else write,
        cache_write_tokens_30m=write if tier_30m else 0,
        prefix_key=_text(attrs, "racs.prefix_key"),
        agent_id=_text(attrs, "gen_ai.agent.id"),
        timestamp=end_ns // 1_000_000 if isinstance(end_ns, int) and end_ns > 0 else None,
    )


class RacsSpanProcessor(_Base):
    """An OpenTelemetry SDK span processor recording every finished GenAI span."""

    def __init__(
        self, engine: Racs, *, provider: str | None = None, model: str | None = None
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.model = model

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Record the span's usage; never raises into the SDK."""
        try:
            usage = usage_from_span(span, provider=self.provider, model=self.model)
            if usage is not None:
                self.engine.record(usage)
        except Exception:  # a telemetry hook must never break the host's tracing
            _log.exception("racs: could not record the usage of span %r", span.name)

    def shutdown(self) -> None:
        """Nothing to release: the engine belongs to the host."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Records are synchronous, so there is never anything to flush."""
        return True
