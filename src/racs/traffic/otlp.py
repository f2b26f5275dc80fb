"""OpenTelemetry GenAI spans as JSON: OTLP (the collector's file exporter, the OTLP/JSON
exporters: ``resourceSpans``) and the Python SDK's console JSON (one span, attributes as a
plain object). Usage attributes in the current and older names are read by
``racs.providers.spans`` (as the live span processor reads them); a span whose counts
break ``racs.providers.usage``'s rule is refused and named. Sessions come from
``gen_ai.conversation.id`` (else ``session.id``, else the trace)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from racs.providers.spans import span_usage
from racs.providers.usage import UsageRefused
from racs.traffic.lines import Meter
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.records import records, timestamp_ms

_SESSION: Final = ("gen_ai.conversation.id", "session.id", "gen_ai.session.id")
_AGENT: Final = ("gen_ai.agent.name", "gen_ai.agent.id")


def is_otlp(record: Any) -> bool:
    """An OTLP export, or one span in the SDK's JSON form."""
    if not isinstance(record, Mapping):
        return False
    if "resourceSpans" in record or "resource_spans" in record:
        return True
    return isinstance(record.get("attributes"), Mapping) and "context" in record


def _value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain value (int64s arrive as strings)."""
    if not isinstance(v, Mapping):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        raw = v["intValue"]
        if isinstance(raw, str) and raw.strip().isdigit():
            return int(raw.strip())
        return raw  # a bad count stays what it is, so the usage rule names it
    if "arrayValue" in v:
        inner = v["arrayValue"]
        values = inner.get("values") if isinstance(inner, Mapping) else None
        return [_value(x) for x in values] if isinstance(values, list) else []
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for kv in raw:
            if isinstance(kv, Mapping) and isinstance(kv.get("key"), str):
                out[kv["key"]] = _value(kv.get("value"))
    return out


def _spans(
    record: Mapping[str, Any], where: str, problems: Problems
) -> Iterator[tuple[dict[str, Any], Mapping[str, Any]]]:
    """(attributes, span) of every span, resource attributes merged under the span's; a
    list field holding something else (``"spans": 5``) is named and holds nothing."""
    resources = record.get("resourceSpans", record.get("resource_spans"))
    if resources is None:
        yield _attributes(record.get("attributes")), record
        return

    def listed(value: Any, name: str) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is not None:
            problems.add(where, f"{name} is not a list")
        return []

    for rs in listed(resources, "resourceSpans"):
        if not isinstance(rs, Mapping):
            continue
        resource = rs.get("resource")
        base = _attributes(resource.get("attributes")) if isinstance(resource, Mapping) else {}
        scopes = rs.get("scopeSpans", rs.get("scope_spans", rs.get("instrumentationLibrarySpans")))
        for ss in listed(scopes, "scopeSpans"):
            if not isinstance(ss, Mapping):
                continue
            for span in listed(ss.get("spans"), "spans"):
                if isinstance(span, Mapping):
                    yield {**base, **_attributes(span.get("attributes"))}, span


def read(path: Path, problems: Problems, meter: Meter | None = None) -> Iterator[Request]:
    """One request per GenAI span reporting input tokens."""
    for where, record in records(path, problems, meter):
        if not isinstance(record, Mapping):
            problems.add(where, "not a JSON object")
            continue
        for i, (attrs, span) in enumerate(_spans(record, where, problems)):
            found = _request(attrs, span, f"{where}#{i}" if i else where, problems)
            if found is not None:
                yield found


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def _request(
    attrs: dict[str, Any], span: Mapping[str, Any], where: str, problems: Problems
) -> Request | None:
    try:
        usage = span_usage(attrs)
    except UsageRefused as refused:
        problems.add(where, refused.message)
        return None
    if usage is None or not usage.tokens.input:
        # not a GenAI span (an HTTP span, a tool call, ...), or one that reported no tokens
        # (an agent or workflow span naming its provider): not a request to account
        return None
    stamp = timestamp_ms(
        span.get("startTimeUnixNano", span.get("start_time_unix_nano", span.get("start_time")))
    )
    if stamp is None:
        problems.add(where, "span start time missing or out of range")
        return None
    raw_context = span.get("context")
    context: Mapping[str, Any] = raw_context if isinstance(raw_context, Mapping) else {}
    trace = span.get("traceId") or context.get("trace_id") or "trace"
    session = str(_first(attrs, _SESSION) or trace)
    agent = _first(attrs, _AGENT)
    span_id = span.get("spanId") or context.get("span_id")
    return Request(
        timestamp_ms=stamp,
        provider=usage.provider,
        model=usage.model or "unknown",
        tokens=usage.tokens,
        session=session,
        stream=f"{session}/{agent}" if agent else session,
        request_id=str(span_id) if span_id else None,
        project=str(attrs.get("service.name")) if attrs.get("service.name") else None,
        agent=str(agent) if agent else None,
        source=where,
    )
