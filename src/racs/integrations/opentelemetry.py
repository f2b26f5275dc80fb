"""OpenTelemetry GenAI spans to CacheUsage, and a span processor that records them.

The attributes are read by ``racs.providers.spans`` (the spellings it knows and their
rules are listed there), the same reading the OTLP traffic importer uses. Counts follow
``racs.providers.usage``'s rule: a span with a bad or out-of-bound count is refused, named
in a warning on this module's logger, and not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from racs.core.errors import invalid
from racs.core.facts import TELEMETRY_NAMES
from racs.core.model import CacheUsage
from racs.engine import Racs
from racs.providers.spans import provider_of as provider_of
from racs.providers.spans import span_usage
from racs.providers.usage import UsageRefused

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


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def usage_from_span(
    span: Any,
    fallback: Mapping[str, Any] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> CacheUsage | None:
    """The all-in CacheUsage of a GenAI span, or ``None`` when it is not a GenAI span (or
    its counts break the rule: then a warning names the attribute).

    ``span`` is a ReadableSpan, a span-like mapping ``{"attributes": {...}}`` (as the
    JavaScript SDK and OTLP JSON exporters give it) or a plain mapping of attributes.
    ``fallback`` (``{"provider": ..., "model": ...}``) or the ``provider`` / ``model``
    keywords fill in what the span does not name; the span wins. A span naming its
    provider but reporting no token counts gives a zero-token usage.
    """
    if fallback is not None:
        if not isinstance(fallback, Mapping):
            raise invalid("usage_from_span: fallback must be a mapping of provider and model")
        provider = provider if provider is not None else _as_text(fallback.get("provider"))
        model = model if model is not None else _as_text(fallback.get("model"))
    try:
        found = span_usage(span, provider=provider, model=model)
    except UsageRefused as refused:
        _log.warning("racs: span usage refused (%s); not recorded", refused.message)
        return None
    if found is None:
        return None
    t = found.tokens
    return CacheUsage(
        provider=found.provider,
        model=found.model or "unknown",
        input_tokens=t.input,
        cache_read_tokens=t.read,
        cache_write_tokens_5m=t.write_5m,
        cache_write_tokens_30m=t.write_30m,
        prefix_key=found.prefix_key,
        agent_id=found.agent_id,
        timestamp=found.end_ms,
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
