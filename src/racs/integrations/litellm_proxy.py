"""racs inside a LiteLLM proxy: every chat request planned and marked before it is routed.

In the proxy's ``config.yaml``::

    litellm_settings:
      callbacks: racs.integrations.litellm.proxy_hook
      racs_settings: {ledger: /var/lib/racs/ledger.db, redis: redis://127.0.0.1:6379/0}

:class:`RacsProxyHook` is a LiteLLM ``CustomLogger``. Its ``async_pre_call_hook`` resolves
the request's model group to the deployment the router holds for it (the first one when
a group has several), plans the request's segments with the engine and writes the plan
into the request (see :mod:`racs.integrations.litellm_requests`), keeping the plan's id
and prefix key in the request's LiteLLM metadata. Its success and failure events then
record the provider's cache usage and, with a ledger, a run. racs never calls a provider
and never reads a credential: the proxy makes the call, racs only rewrites the request
it is handed and reads the usage. A failure inside racs is logged and the request goes
on unchanged.

The engine, ledger and Redis state are built from the settings at the first request of
each worker process (LiteLLM reads ``racs_settings`` after it imported the callback).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from racs.core.model import ResourceDirective
from racs.engine import Racs, create_racs
from racs.integrations.litellm_record import Planned, record_failure, record_success
from racs.integrations.litellm_requests import Target, apply_plan, plan_input, target_of
from racs.integrations.litellm_settings import ProxySettings, RequestSettings, parse_settings

if TYPE_CHECKING:
    from litellm.integrations.custom_logger import CustomLogger as _Base
else:
    try:
        from litellm.integrations.custom_logger import CustomLogger as _Base
    except ImportError:  # keeps the module importable (and testable) without litellm
        _Base = object

_log = logging.getLogger(__name__)

CHAT_CALLS: Final = frozenset({"completion", "acompletion"})
"""Call types the hook plans (chat completions); every other call passes untouched."""
_DEPLOYMENT_MEMO_S: Final = 30.0
"""How long a model group's resolved deployment is reused (the router can change)."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the hook needs to know of a model group's deployment."""

    target: Target
    injection_points: bool
    """The deployment configures LiteLLM's ``cache_control_injection_points``."""
    routing_key: bool
    """LiteLLM forwards ``prompt_cache_key`` to this provider."""


class RacsProxyHook(_Base):
    """LiteLLM proxy hook: plans every chat request and applies the plan before routing."""

    def __init__(
        self,
        engine: Racs | None = None,
        ledger: Any = None,
        *,
        settings: ProxySettings | Mapping[str, Any] | None = None,
        router: Any = None,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._ledger = ledger
        self._settings = (
            settings
            if isinstance(settings, ProxySettings) or settings is None
            else parse_settings(settings)
        )
        self._router = router
        self._lock = threading.Lock()
        self._started = False
        self._usable = False
        self._shared = False
        self._deployments: dict[str, tuple[float, Deployment | None]] = {}

    # -- set-up -------------------------------------------------------------------------

    @property
    def engine(self) -> Racs:
        """The engine (built from the settings at first use)."""
        self._start()
        if self._engine is None:
            raise RuntimeError("racs: the proxy hook could not start; see the logged error")
        return self._engine

    @property
    def ledger(self) -> Any:
        """The ledger runs go to (``None``: usage only)."""
        self._start()
        return self._ledger

    @property
    def settings(self) -> ProxySettings:
        """The validated settings (the proxy's ``litellm_settings.racs_settings``)."""
        self._start()
        return self._settings or ProxySettings()

    def _start(self) -> bool:
        if self._started:
            return self._usable
        with self._lock:
            if self._started:
                return self._usable
            try:
                if self._settings is None:
                    self._settings = parse_settings(
                        _proxy_settings(), "litellm_settings.racs_settings"
                    )
                if self._engine is None:
                    self._engine, self._ledger = build_engine(self._settings)
                    self._shared = self._settings.redis is not None
                self._usable = True
            except Exception:  # a bad setting must not take the proxy's traffic down
                _log.exception("racs: proxy hook disabled: could not start")
            self._started = True
        return self._usable

    # -- before the call ------------------------------------------------------------------

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Plan a chat request and return it with the plan applied (LiteLLM's hook)."""
        kind = getattr(call_type, "value", call_type)  # a CallTypes member or its value
        if kind not in CHAT_CALLS or not self._start():
            return data
        if self._shared:  # a Redis round trip must not block the proxy's event loop
            return await asyncio.to_thread(self.prepare, data, user_api_key_dict)
        return self.prepare(data, user_api_key_dict)

    def prepare(self, data: dict[str, Any], key: Any = None) -> dict[str, Any]:
        """The request ``data`` with racs's plan applied; never raises (on an internal
        error the request is returned unchanged and the error logged)."""
        try:
            return self._prepare(data, key)
        except Exception:
            _log.exception("racs: could not plan a proxy request; sent unchanged")
            return data

    def _prepare(self, data: dict[str, Any], key: Any) -> dict[str, Any]:
        if not self._start():
            return data
        group = data.get("model")
        alias = getattr(key, "key_alias", None)
        settings = self.settings.for_request(
            group if isinstance(group, str) else None,
            alias if isinstance(alias, str) else None,
            getattr(key, "metadata", None),
        )
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            metadata = data["metadata"] = {}
        if not settings.enabled:
            metadata["racs"] = {"enabled": False}
            return data
        deployment = self.deployment(group) if isinstance(group, str) else None
        if deployment is None or not data.get("messages"):
            return data
        agent_id = settings.agent_id or (alias if isinstance(alias, str) else None)
        plan_in = plan_input(
            data,
            deployment.target,
            stability=settings.stability_override(),
            agent_id=agent_id,
            reuse=settings.reuse,
        )
        plan = self.engine.plan(plan_in)
        static = deployment.injection_points or bool(data.get("cache_control_injection_points"))
        applied = apply_plan(
            plan,
            plan_in,
            data,
            deployment.target,
            markers=not (static and settings.injection_points == "defer"),
            routing=deployment.routing_key,
        )
        planned = Planned(
            prefix_key=plan.prefix_key,
            plan_id=plan.plan_id,
            provider=deployment.target.provider,
            model=deployment.target.model,
            agent_id=agent_id,
            workspace_id=settings.workspace_id,
        )
        info = {**planned.to_metadata(), "dialect": applied.dialect, "markers": applied.markers}
        for directive in plan.directives:
            if isinstance(directive, ResourceDirective):
                info["resource"] = directive.action  # what LiteLLM will do with the cache
        metadata["racs"] = info
        return applied.request

    def deployment(self, group: str) -> Deployment | None:
        """The deployment racs plans ``group`` for, as LiteLLM's router resolves it."""
        now = time.monotonic()
        cached = self._deployments.get(group)
        if cached is not None and now - cached[0] < _DEPLOYMENT_MEMO_S:
            return cached[1]
        found = _resolve(self._router or _proxy_router(), group)
        self._deployments[group] = (now, found)
        return found

    def request_settings(self, group: str | None, key: Any = None) -> RequestSettings:
        """The settings that apply to a request for ``group`` made with ``key``."""
        alias = getattr(key, "key_alias", None)
        return self.settings.for_request(
            group, alias if isinstance(alias, str) else None, getattr(key, "metadata", None)
        )

    # -- after the call -------------------------------------------------------------------

    def _planned(self, kwargs: Mapping[str, Any]) -> Planned | None:
        params = kwargs.get("litellm_params")
        metadata = params.get("metadata") if isinstance(params, Mapping) else None
        info = metadata.get("racs") if isinstance(metadata, Mapping) else None
        if isinstance(info, Mapping) and info.get("enabled") is False:
            return None
        return Planned.from_metadata(info) or Planned(
            workspace_id=self.settings.defaults.workspace_id
        )

    def _success(self, kwargs: Mapping[str, Any], response_obj: Any, start: Any, end: Any) -> None:
        planned = self._planned(kwargs) if self._start() else None
        if planned is not None:
            record_success(self.engine, self.ledger, kwargs, response_obj, start, end, planned)

    def _failure(self, kwargs: Mapping[str, Any], start: Any, end: Any) -> None:
        planned = self._planned(kwargs) if self._start() else None
        if planned is not None:
            record_failure(self.ledger, kwargs, start, end, planned)

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Record one successful completion; never raises into LiteLLM."""
        _guard(self._success, kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Async twin of :meth:`log_success_event`, off the event loop (ledger I/O)."""
        await asyncio.to_thread(_guard, self._success, kwargs, response_obj, start_time, end_time)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Record a failed run when a ledger is attached."""
        _guard(self._failure, kwargs, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Async twin of :meth:`log_failure_event`."""
        await asyncio.to_thread(_guard, self._failure, kwargs, start_time, end_time)


def build_engine(settings: ProxySettings) -> tuple[Racs, Any]:
    """The engine and ledger one proxy worker uses, from the settings."""
    from racs.ledger import create_ledger

    ledger = create_ledger(settings.ledger) if settings.ledger else None
    state = None
    if settings.redis:
        from racs.state import redis_state

        state = redis_state(settings.redis, prefix=settings.redis_prefix)
    engine = create_racs(
        state=state,
        ledger=ledger,
        reuse_policy=settings.reuse_policy,
        key_scheme=settings.key_scheme,
    )
    return engine, ledger


def _guard(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # a logging callback must never fail the host's completion
        _log.exception("racs: could not record a LiteLLM proxy call")


def _proxy_settings() -> Any:
    """``litellm_settings.racs_settings`` of the running proxy (LiteLLM sets every
    unknown ``litellm_settings`` key as an attribute of the ``litellm`` module)."""
    import litellm

    return getattr(litellm, "racs_settings", None)


def _proxy_router() -> Any:
    try:
        from litellm.proxy import proxy_server
    except ImportError:
        return None
    return getattr(proxy_server, "llm_router", None)


def _resolve(router: Any, group: str) -> Deployment | None:
    """Resolve a model group through the router, else as a LiteLLM model string."""
    import litellm

    deployments = (router.get_model_list(model_name=group) if router is not None else None) or []
    params: Mapping[str, Any] = {"model": group}
    if deployments and isinstance(deployments[0].get("litellm_params"), Mapping):
        params = deployments[0]["litellm_params"]
    try:
        model, provider, _, _ = litellm.get_llm_provider(
            model=str(params.get("model")),
            custom_llm_provider=params.get("custom_llm_provider"),
            api_base=params.get("api_base"),
        )
    except Exception:  # a model LiteLLM cannot place is not racs's to plan
        return None
    injection = any(
        (d.get("litellm_params") or {}).get("cache_control_injection_points") for d in deployments
    )
    supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    return Deployment(
        target=target_of(provider, model),
        injection_points=bool(injection),
        routing_key="prompt_cache_key" in (supported or ()),
    )


proxy_hook: Final = RacsProxyHook()
"""The instance a proxy config names: ``callbacks: racs.integrations.litellm.proxy_hook``."""
