"""Turning API calls into validated pending events (pure: nothing here touches storage).

Everything is checked here, before any write, so a bad call writes nothing. Rules that
need stored state (unknown run, run already ended) are checked by the store inside the
write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from racs.core.errors import invalid
from racs.core.limits import MAX_PAYLOAD_CHARS
from racs.ledger import validate as v
from racs.ledger.hashing import canonical_json
from racs.ledger.model import (
    AUTH_TYPES,
    CACHE_USAGE,
    COMPLIANCE_MODES,
    END_STATUSES,
    EXECUTION_MODES,
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_POLICY_EVALUATED,
    RUN_ROUTED,
    RUN_STARTED,
)


class PendingEvent(NamedTuple):
    """An event validated and encoded, waiting for its position, sequence and hash.

    ``payload`` is what the projection folds; it reads only the payloads built in this
    module, never a caller's mapping, so those are kept without a copy.
    """

    type: str
    run_id: str | None
    timestamp: int
    payload: Mapping[str, Any]
    payload_json: str


def _event(
    type_: str, run_id: str | None, timestamp: int, payload: Mapping[str, Any], field: str
) -> PendingEvent:
    # ``field`` names the only caller-supplied free-form part that can fail to encode.
    text = canonical_json(payload, field)
    if len(text) > MAX_PAYLOAD_CHARS:
        raise invalid(
            f"{field}: the event payload is {len(text)} characters of JSON, more than the "
            f"{MAX_PAYLOAD_CHARS} one event may carry"
        )
    return PendingEvent(type_, run_id, timestamp, payload, text)


def run_started(
    run_id: str,
    timestamp: int,
    *,
    workspace_id: object,
    agent_id: object,
    provider: object,
    model: object,
    auth_type: object,
    execution_mode: object,
    compliance_mode: object,
    policy_override: object,
    metadata: object,
    prefix_key: object,
    plan_id: object,
    idempotency_key: object = None,
) -> PendingEvent:
    """``run.started``; the run id is checked by the caller (generated or validated)."""
    payload: dict[str, Any] = {
        "workspace_id": v.identifier("workspace_id", workspace_id),
        "agent_id": v.identifier("agent_id", agent_id),
        "provider": v.identifier("provider", provider),
        "model": v.identifier("model", model),
        "auth_type": v.choice("auth_type", auth_type, AUTH_TYPES),
        "execution_mode": v.choice("execution_mode", execution_mode, EXECUTION_MODES),
        "compliance_mode": v.choice("compliance_mode", compliance_mode, COMPLIANCE_MODES),
        "policy_override": v.flag("policy_override", policy_override),
    }
    if metadata is not None:
        payload["metadata"] = dict(v.shallow("metadata", v.mapping("metadata", metadata)))
    if prefix_key is not None:
        payload["prefix_key"] = v.text("prefix_key", prefix_key)
    if plan_id is not None:
        payload["plan_id"] = v.text("plan_id", plan_id)
    if idempotency_key is not None:
        payload["idempotency_key"] = v.identifier("idempotency_key", idempotency_key)
    return _event(RUN_STARTED, run_id, timestamp, payload, "metadata")


def _error(value: object) -> dict[str, str]:
    if isinstance(value, BaseException):
        code = getattr(value, "code", None)
        return {
            "code": code if isinstance(code, str) and code else type(value).__name__,
            "message": str(getattr(value, "message", value)),
        }
    error = v.mapping("error", value)
    return {
        "code": v.text("error.code", error.get("code")),
        "message": v.text("error.message", error.get("message")),
    }


def run_ended(
    run_id: object,
    timestamp: int,
    *,
    status: object,
    metrics: Mapping[str, object],
    error: object,
    metadata: object,
) -> PendingEvent:
    """``run.completed`` or ``run.failed`` with whatever metrics were measured."""
    rid = v.identifier("run_id", run_id)
    state = v.choice("status", status, END_STATUSES)
    payload: dict[str, Any] = {}
    for name, value in metrics.items():
        if value is None:
            continue
        if name in ("latency_ms", "ttft_ms", "cost_usd"):
            payload[name] = v.amount(name, value)
        else:
            payload[name] = v.tokens(name, value)
    if error is not None:
        if state != "failed":
            raise invalid("error is only recorded for status 'failed'")
        payload["error"] = _error(error)
    if metadata is not None:
        payload["metadata"] = dict(v.shallow("metadata", v.mapping("metadata", metadata)))
    type_ = RUN_COMPLETED if state == "completed" else RUN_FAILED
    return _event(type_, rid, timestamp, payload, "metadata")


def run_cancelled(run_id: object, timestamp: int, reason: object) -> PendingEvent:
    """``run.cancelled``, with an optional reason."""
    rid = v.identifier("run_id", run_id)
    payload = {} if reason is None else {"reason": v.text("reason", reason)}
    return _event(RUN_CANCELLED, rid, timestamp, payload, "reason")


def run_record(type_: str, run_id: object, timestamp: int, payload: object) -> PendingEvent:
    """An audit event whose payload is the caller's mapping (auth, routing, call, retry)."""
    rid = v.identifier("run_id", run_id)
    field = "decision" if type_ == RUN_ROUTED else "payload"
    return _event(type_, rid, timestamp, v.shallow(field, v.mapping(field, payload)), field)


def policy_evaluated(
    run_id: object, timestamp: int, decisions: object, policy_override: object
) -> PendingEvent:
    """``run.policy_evaluated``: the decisions (a list) and whether the user overrode them."""
    rid = v.identifier("run_id", run_id)
    if isinstance(decisions, str | bytes) or not isinstance(decisions, Sequence):
        raise invalid(f"decisions must be a list, got {type(decisions).__name__}")
    payload: dict[str, Any] = {"decisions": v.shallow("decisions", list(decisions))}
    if policy_override is not None:
        payload["policy_override"] = v.flag("policy_override", policy_override)
    return _event(RUN_POLICY_EVALUATED, rid, timestamp, payload, "decisions")


def cache_usage(
    timestamp: int,
    *,
    provider: object,
    model: object,
    input_tokens: object,
    cache_read_tokens: object,
    cache_write_tokens_5m: object,
    cache_write_tokens_30m: object,
    cache_write_tokens_1h: object,
    usage_timestamp: object,
    prefix_key: object,
    agent_id: object,
    workspace_id: object,
    run_id: object,
) -> PendingEvent:
    """``cache.usage``: one usage record of the planning engine (optionally of a run)."""
    payload: dict[str, Any] = {
        "provider": v.identifier("provider", provider),
        "model": v.identifier("model", model),
        "input_tokens": v.tokens("input_tokens", input_tokens),
        "cache_read_tokens": v.tokens("cache_read_tokens", cache_read_tokens),
        "cache_write_tokens_5m": v.tokens("cache_write_tokens_5m", cache_write_tokens_5m),
        "cache_write_tokens_1h": v.tokens("cache_write_tokens_1h", cache_write_tokens_1h),
    }
    # Only when non-zero: a record without the 30-minute tier keeps the payload (and so
    # the hash) it had before the tier existed.
    if cache_write_tokens_30m != 0:
        payload["cache_write_tokens_30m"] = v.tokens(
            "cache_write_tokens_30m", cache_write_tokens_30m
        )
    if usage_timestamp is not None:
        if isinstance(usage_timestamp, int | float) and not isinstance(usage_timestamp, bool):
            ms = int(v.amount("timestamp", usage_timestamp))
            payload["timestamp"] = v.in_time_range("timestamp", ms)
        else:
            payload["timestamp"] = v.instant("timestamp", usage_timestamp)
    for name, value in (
        ("prefix_key", prefix_key),
        ("agent_id", agent_id),
        ("workspace_id", workspace_id),
    ):
        if value is not None:
            payload[name] = v.identifier(name, value)
    rid = None if run_id is None else v.identifier("run_id", run_id)
    return _event(CACHE_USAGE, rid, timestamp, payload, "usage")
