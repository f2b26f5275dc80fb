"""A LiteLLM callback that plans and records provider prompt-cache usage for every call.

``litellm.callbacks = [RacsLiteLLMLogger(engine, ledger=ledger)]``. LiteLLM normalises
every provider to OpenAI-style usage whose ``prompt_tokens`` INCLUDES the cached tokens.
Its ``cache_hit`` flag is LiteLLM's own response cache: such a response never reached the
provider, so it is not recorded as provider cache usage (nor as a run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from racs.engine import Racs

# Re-exported: the usage reading lives where it can be imported without LiteLLM.
from racs.integrations.litellm_usage import LITELLM_PROVIDERS as LITELLM_PROVIDERS
from racs.integrations.litellm_usage import is_litellm_cache_hit as is_litellm_cache_hit
from racs.integrations.litellm_usage import provider_of as provider_of
from racs.integrations.litellm_usage import usage_from_litellm as usage_from_litellm
from racs.integrations.loop import completed_metrics
from racs.providers.common import field
from racs.providers.openai import OpenAIChat

if TYPE_CHECKING:
    from litellm.integrations.custom_logger import CustomLogger as _Base
else:
    try:
        from litellm.integrations.custom_logger import CustomLogger as _Base
    except ImportError:  # keeps the module importable (and testable) without litellm
        _Base = object

_log = logging.getLogger(__name__)


class RacsLiteLLMLogger(_Base):
    """LiteLLM ``CustomLogger``: plans each call's prompt and records its cache usage."""

    def __init__(
        self,
        engine: Racs,
        ledger: Any = None,
        *,
        workspace_id: str = "default",
        agent_id: str | None = None,
        plan: bool = True,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.ledger = ledger
        self.workspace_id = workspace_id
        self.agent_id = agent_id
        self.plan = plan

    def _prefix_key(self, kwargs: Mapping[str, Any], provider: str) -> tuple[str | None, Any]:
        """Plan the call's messages (for its prefix key and drift), when asked to."""
        messages = kwargs.get("messages")
        if not self.plan or not messages:
            return None, None
        request = {"model": kwargs.get("model") or "unknown", "messages": messages}
        optional = kwargs.get("optional_params") or {}
        if optional.get("tools"):
            request["tools"] = optional["tools"]
        plan_input = OpenAIChat(provider).segments_from(request, agent_id=self.agent_id)
        plan = self.engine.plan(plan_input)
        return plan.prefix_key, plan

    def _success(self, kwargs: Mapping[str, Any], response_obj: Any, start: Any, end: Any) -> None:
        if is_litellm_cache_hit(kwargs):
            return
        provider = provider_of(kwargs)
        prefix_key, plan = self._prefix_key(kwargs, provider)
        usage = usage_from_litellm(kwargs, response_obj, prefix_key=prefix_key)
        if usage is None:
            return
        if self.agent_id is not None:
            usage = replace(usage, agent_id=self.agent_id)
        if self.ledger is None:
            self.engine.record(usage)
            return
        run_id = self.ledger.start_run(
            **self._start_args(usage.provider, usage.model),
            prefix_key=plan.prefix_key if plan is not None else None,
            plan_id=plan.plan_id if plan is not None else None,
        )
        self.engine.record(replace(usage, run_id=run_id))
        output = field(field(response_obj, "usage"), "completion_tokens")
        metrics = completed_metrics(
            usage, output if isinstance(output, int) else None, _latency(start, end)
        )
        self.ledger.complete_run(run_id, **metrics)

    def _failure(self, kwargs: Mapping[str, Any], start: Any, end: Any) -> None:
        if self.ledger is None:
            return
        provider = provider_of(kwargs)
        model = str(kwargs.get("model") or "unknown")
        run_id = self.ledger.start_run(**self._start_args(provider, model))
        exc = kwargs.get("exception")
        self.ledger.complete_run(
            run_id,
            status="failed",
            error={
                "code": type(exc).__name__ if exc is not None else "Error",
                "message": str(exc or kwargs.get("traceback_exception") or "failed")[:2000],
            },
            latency_ms=_latency(start, end),
        )

    def _start_args(self, provider: str, model: str) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "agent_id": self.agent_id or "default",
            "provider": provider,
            "model": model,
            "auth_type": "api",
            "execution_mode": "interactive",
        }

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Record one successful completion; never raises into LiteLLM."""
        self._guard(self._success, kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Async twin of :meth:`log_success_event`."""
        self._guard(self._success, kwargs, response_obj, start_time, end_time)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Record a failed run when a ledger is attached."""
        self._guard(self._failure, kwargs, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Async twin of :meth:`log_failure_event`."""
        self._guard(self._failure, kwargs, start_time, end_time)

    @staticmethod
    def _guard(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a logging callback must never fail the host's completion
            _log.exception("racs: could not record a LiteLLM call")


def _latency(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return round((end - start).total_seconds() * 1000, 3)
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return round((end - start) * 1000, 3)
    return None
