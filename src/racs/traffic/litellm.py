"""LiteLLM logs: the standard logging payload as JSON lines (what a custom callback
writes), and rows of the spend-logs table exported as JSON or CSV. Usage goes through
``racs.providers.litellm_usage``, the same reading the live callback uses (a row breaking
``racs.providers.usage``'s rule is refused and named); responses LiteLLM served from its
own cache (no provider call) are skipped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from racs.providers.litellm_usage import logged_usage, mapping
from racs.providers.usage import UsageRefused
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
    try:
        found = logged_usage(row)
    except UsageRefused as refused:
        problems.add(where, refused.message)
        return None
    stamp = timestamp_ms(row.get("startTime", row.get("start_time")))
    if stamp is None:
        problems.add(where, "startTime missing or out of range")
        return None
    metadata = mapping(row.get("metadata"))
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
        tokens=found.tokens,
        session=session,
        stream=session,
        request_id=request_id,
        project=_text(row.get("team_id")) or _text(metadata.get("user_api_key_team_alias")),
        agent=user,
        source=where,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
