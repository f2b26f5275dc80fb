"""Recording one LiteLLM call: its provider cache usage into the engine and, with a
ledger, a run. Shared by the library callback and the proxy hook; LiteLLM not imported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from racs.engine import Racs
from racs.integrations.litellm_usage import is_litellm_cache_hit, provider_of, usage_from_litellm
from racs.integrations.loop import completed_metrics
from racs.providers.common import field


@dataclass(frozen=True, slots=True)
class Planned:
    """What racs planned for a call, carried to its success or failure event."""

    prefix_key: str | None = None
    plan_id: str | None = None
    provider: str | None = None
    """The racs provider planned for (a router may send the call elsewhere)."""
    model: str | None = None
    """The provider's model id planned for (prices are keyed by it)."""
    agent_id: str | None = None
    workspace_id: str = "default"

    def to_metadata(self) -> dict[str, Any]:
        """The JSON-safe form stored in the request's LiteLLM metadata."""
        return {
            "prefixKey": self.prefix_key,
            "planId": self.plan_id,
            "provider": self.provider,
            "model": self.model,
            "agentId": self.agent_id,
            "workspaceId": self.workspace_id,
        }

    @classmethod
    def from_metadata(cls, data: Any) -> Planned | None:
        """Read back :meth:`to_metadata` (``None`` if absent or not racs's)."""
        if not isinstance(data, Mapping):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return cls(
            prefix_key=text("prefixKey"),
            plan_id=text("planId"),
            provider=text("provider"),
            model=text("model"),
            agent_id=text("agentId"),
            workspace_id=text("workspaceId") or "default",
        )


def record_success(
    engine: Racs,
    ledger: Any,
    kwargs: Mapping[str, Any],
    response_obj: Any,
    start: Any,
    end: Any,
    planned: Planned,
) -> None:
    """Record one successful completion's usage (and a completed run with a ledger).

    A response from LiteLLM's own response cache never reached the provider: skipped.
    A call routed to another provider than planned keeps its usage but not the plan.
    """
    if is_litellm_cache_hit(kwargs):
        return
    provider = provider_of(kwargs)
    if planned.provider is not None and planned.provider != provider:
        planned = Planned(agent_id=planned.agent_id, workspace_id=planned.workspace_id)
    usage = usage_from_litellm(kwargs, response_obj, prefix_key=planned.prefix_key)
    if usage is None:
        return
    extra: dict[str, Any] = {}
    if planned.provider is not None:
        extra["provider"] = planned.provider
    if planned.model is not None:
        extra["model"] = planned.model
    if planned.agent_id is not None:
        extra["agent_id"] = planned.agent_id
    if extra:
        usage = replace(usage, **extra)
    if ledger is None:
        engine.record(usage)
        return
    run_id = ledger.start_run(
        **_start_args(planned, usage.provider, usage.model),
        prefix_key=planned.prefix_key,
        plan_id=planned.plan_id,
    )
    engine.record(replace(usage, run_id=run_id))
    output = field(field(response_obj, "usage"), "completion_tokens")
    metrics = completed_metrics(
        usage, output if isinstance(output, int) else None, latency_ms(start, end)
    )
    ledger.complete_run(run_id, **metrics)


def record_failure(
    ledger: Any, kwargs: Mapping[str, Any], start: Any, end: Any, planned: Planned
) -> None:
    """Record a failed run (when a ledger is attached) with the error's type and text."""
    if ledger is None:
        return
    provider = planned.provider or provider_of(kwargs)
    model = planned.model or str(kwargs.get("model") or "unknown")
    run_id = ledger.start_run(
        **_start_args(planned, provider, model),
        prefix_key=planned.prefix_key,
        plan_id=planned.plan_id,
    )
    exc = kwargs.get("exception")
    ledger.complete_run(
        run_id,
        status="failed",
        error={
            "code": type(exc).__name__ if exc is not None else "Error",
            "message": str(exc or kwargs.get("traceback_exception") or "failed")[:2000],
        },
        latency_ms=latency_ms(start, end),
    )


def _start_args(planned: Planned, provider: str, model: str) -> dict[str, Any]:
    return {
        "workspace_id": planned.workspace_id,
        "agent_id": planned.agent_id or "default",
        "provider": provider,
        "model": model,
        "auth_type": "api",
        "execution_mode": "interactive",
    }


def latency_ms(start: Any, end: Any) -> float | None:
    """Milliseconds between LiteLLM's start and end times (datetimes or epoch seconds)."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return round((end - start).total_seconds() * 1000, 3)
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return round((end - start) * 1000, 3)
    return None
