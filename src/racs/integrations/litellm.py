"""LiteLLM integrations: a callback that plans and records provider prompt-cache usage for
every call, and a proxy hook that puts racs's plan into every request the proxy routes.

``litellm.callbacks = [RacsLiteLLMLogger(engine, ledger=ledger)]`` in a program;
``callbacks: racs.integrations.litellm.proxy_hook`` in a LiteLLM proxy's config (see
:class:`RacsProxyHook`). LiteLLM normalises
every provider to OpenAI-style usage whose ``prompt_tokens`` INCLUDES the cached tokens.
Its ``cache_hit`` flag is LiteLLM's own response cache: such a response never reached the
provider, so it is not recorded as provider cache usage (nor as a run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from racs.engine import Racs
from racs.integrations.litellm_record import Planned, record_failure, record_success

# Re-exported: the usage reading lives where it can be imported without LiteLLM.
from racs.integrations.litellm_usage import LITELLM_PROVIDERS as LITELLM_PROVIDERS
from racs.integrations.litellm_usage import is_litellm_cache_hit as is_litellm_cache_hit
from racs.integrations.litellm_usage import provider_of as provider_of
from racs.integrations.litellm_usage import usage_from_litellm as usage_from_litellm
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

    def _planned(self, kwargs: Mapping[str, Any]) -> Planned:
        """Plan the call's messages (for its prefix key and drift), when asked to."""
        messages = kwargs.get("messages")
        if not self.plan or not messages or is_litellm_cache_hit(kwargs):
            return Planned(agent_id=self.agent_id, workspace_id=self.workspace_id)
        request = {"model": kwargs.get("model") or "unknown", "messages": messages}
        optional = kwargs.get("optional_params") or {}
        if optional.get("tools"):
            request["tools"] = optional["tools"]
        provider = provider_of(kwargs)
        plan_input = OpenAIChat(provider).segments_from(request, agent_id=self.agent_id)
        plan = self.engine.plan(plan_input)
        return Planned(
            prefix_key=plan.prefix_key,
            plan_id=plan.plan_id,
            agent_id=self.agent_id,
            workspace_id=self.workspace_id,
        )

    def _success(self, kwargs: Mapping[str, Any], response_obj: Any, start: Any, end: Any) -> None:
        planned = self._planned(kwargs)
        record_success(self.engine, self.ledger, kwargs, response_obj, start, end, planned)

    def _failure(self, kwargs: Mapping[str, Any], start: Any, end: Any) -> None:
        planned = Planned(agent_id=self.agent_id, workspace_id=self.workspace_id)
        record_failure(self.ledger, kwargs, start, end, planned)

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


# The proxy hook (its own module: the proxy's settings, routing and request rewriting).
from racs.integrations.litellm_proxy import RacsProxyHook as RacsProxyHook  # noqa: E402
from racs.integrations.litellm_proxy import proxy_hook as proxy_hook  # noqa: E402
