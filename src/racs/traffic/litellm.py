"""LiteLLM logs: the standard logging payload as JSON lines (what a custom callback
writes), and rows of the spend-logs table exported as JSON or CSV. Usage goes through
``racs.integrations.litellm_usage.usage_from_litellm``, the same reading the live callback uses;
responses LiteLLM served from its own cache (no provider call) are skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from racs.core.accounting import Tokens
from racs.integrations.litellm_usage import usage_from_litellm
from racs.traffic.lines import Meter
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.records import records, timestamp_ms


def is_standard_payload(record: Any) -> bool:
    """A ``StandardLoggingPayload`` (or a callback line wrapping one)."""
    if not isinstance(record, Mapping):
        return False
    if isinstance(record.get("standard_logging_object"), Mapping):
        return True
    return "call_type" in record and "response_cost" in record


def is_spend_log(record: Any) -> bool:
    """A row of LiteLLM's spend-logs table."""
    return isinstance(record, Mapping) and "request_id" in record and "spend" in record


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, Mapping) else {}
    return {}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def read(path: Path, problems: Problems, meter: Meter | None = None) -> Iterator[Request]:
    """One request per logged provider call."""
    for where, record in records(path, problems, meter):
        if not isinstance(record, Mapping):
            problems.add(where, "not a JSON object")
            continue
        payload = record.get("standard_logging_object")
        row = payload if isinstance(payload, Mapping) else record
        found = _request(row, where, problems)
        if found is not None:
            yield found


def _request(row: Mapping[str, Any], where: str, problems: Problems) -> Request | None:
    if _truthy(row.get("cache_hit")):
        return None  # served by LiteLLM's own cache: no provider call, no tokens billed
    metadata = _mapping(row.get("metadata"))
    usage = _mapping(metadata.get("usage_object"))
    prompt = _int(row.get("prompt_tokens"))
    output = _int(row.get("completion_tokens"))
    if not usage:
        extra = _mapping(metadata.get("additional_usage_values"))
        if prompt is None:
            problems.add(where, "prompt_tokens missing or not a count")
            return None
        usage = {**extra, "prompt_tokens": prompt}
    elif output is None:
        output = _int(usage.get("completion_tokens"))
    model = row.get("model")
    if not isinstance(model, str) or not model:
        problems.add(where, "model missing")
        return None
    kwargs = {"custom_llm_provider": row.get("custom_llm_provider"), "model": model}
    found = usage_from_litellm(kwargs, {"usage": dict(usage), "model": model})
    if found is None:
        problems.add(where, "no usage")
        return None
    stamp = timestamp_ms(row.get("startTime", row.get("start_time")))
    if stamp is None:
        problems.add(where, "startTime missing or unreadable")
        return None
    session = (
        _text(row.get("session_id"))
        or _text(metadata.get("session_id"))
        or _text(row.get("trace_id"))
        or "litellm"
    )
    user = _text(row.get("end_user")) or _text(metadata.get("user_api_key_end_user_id"))
    request_id = _text(row.get("request_id")) or _text(row.get("id"))
    return Request(
        timestamp_ms=stamp,
        provider=found.provider,
        model=found.model,
        tokens=Tokens.of_usage(found, output or 0),
        session=session,
        stream=session,
        request_id=request_id,
        project=_text(row.get("team_id")) or _text(metadata.get("user_api_key_team_alias")),
        agent=user,
        source=where,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
