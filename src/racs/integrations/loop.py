"""The planning loop for agents: plan -> apply -> call -> record, sync and asyncio.

A host wraps its provider call once::

    call = CachedCall(engine, anthropic.messages, ledger=ledger, agent_id="support")
    response = call(request, lambda req: client.messages.create(**req))

Each call derives segments from the request, plans them, applies the plan to a copy of
the request, sends it with the host's own client, reads the usage from the response and
records it (with the plan's prefix key) into the engine. With a ledger attached the call
is also a run: started before the send, completed with tokens, latency and cache fields,
or failed with the error (which is then re-raised).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from racs.core.model import CachePlan, CacheUsage, ExpectedReuse
from racs.engine import Racs
from racs.providers.common import Adapter, StabilityOverride, output_tokens_of


class _LoopBase:
    """State and bookkeeping shared by the sync and async loops."""

    def __init__(
        self,
        engine: Racs,
        adapter: Adapter,
        *,
        ledger: Any = None,
        workspace_id: str = "default",
        agent_id: str | None = None,
        stability: StabilityOverride = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
        run_options: Mapping[str, Any] | None = None,
        apply_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.ledger = ledger
        self.workspace_id = workspace_id
        self.agent_id = agent_id
        self.stability = stability
        self.reuse = reuse
        self.run_options: dict[str, Any] = {"auth_type": "api", "execution_mode": "interactive"}
        self.run_options.update(run_options or {})
        self.apply_options = dict(apply_options or {})
        self.last_plan: CachePlan | None = None
        """The plan of the most recent call."""
        self.last_usage: CacheUsage | None = None
        """The usage recorded for the most recent call."""
        self.last_run_id: str | None = None
        """The ledger run id of the most recent call (with a ledger attached)."""

    def _prepare(self, request: Any) -> tuple[CachePlan, dict[str, Any]]:
        plan_input = self.adapter.segments_from(
            request, stability=self.stability, agent_id=self.agent_id, reuse=self.reuse
        )
        plan = self.engine.plan(plan_input)
        self.last_plan = plan
        apply: Callable[..., dict[str, Any]] = self.adapter.apply
        return plan, apply(plan, request, **self.apply_options)

    def _start_args(self, plan: CachePlan) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "agent_id": self.agent_id or "default",
            "provider": plan.provider,
            "model": plan.model,
            "prefix_key": plan.prefix_key,
            "plan_id": plan.plan_id,
            **self.run_options,
        }

    def _record(self, plan: CachePlan, response: Any, run_id: str | None) -> CacheUsage:
        usage = self.adapter.usage_from(response, model=plan.model, prefix_key=plan.prefix_key)
        extra: dict[str, Any] = {}
        if self.agent_id is not None:
            extra["agent_id"] = self.agent_id
        if run_id is not None:
            extra["run_id"] = run_id  # ties the cache.usage event to its run
        if extra:
            usage = replace(usage, **extra)
        self.engine.record(usage)
        self.last_usage = usage
        return usage

    @staticmethod
    def _completed(
        plan: CachePlan, usage: CacheUsage, response: Any, started: float
    ) -> dict[str, Any]:
        return completed_metrics(usage, output_tokens_of(response), _elapsed_ms(started))

    @staticmethod
    def _failed(plan: CachePlan, exc: BaseException, started: float) -> dict[str, Any]:
        return {
            "status": "failed",
            "error": {"code": type(exc).__name__, "message": str(exc)[:2000]},
            "latency_ms": _elapsed_ms(started),
        }


class CachedCall(_LoopBase):
    """Wrap a synchronous provider call: plan, apply, send, record (and log a run)."""

    def __call__(self, request: Any, send: Callable[[dict[str, Any]], Any]) -> Any:
        """Send ``request`` through ``send`` with the plan applied; return the response."""
        plan, prepared = self._prepare(request)
        run_id = None
        if self.ledger is not None:
            run_id = self.ledger.start_run(**self._start_args(plan))
            self.last_run_id = run_id
        started = time.monotonic()
        try:
            response = send(prepared)
        except BaseException as exc:
            if run_id is not None:
                self.ledger.complete_run(run_id, **self._failed(plan, exc, started))
            raise
        usage = self._record(plan, response, run_id)
        if run_id is not None:
            self.ledger.complete_run(run_id, **self._completed(plan, usage, response, started))
        return response


class AsyncCachedCall(_LoopBase):
    """The asyncio twin of :class:`CachedCall`; the ledger may be sync or async."""

    async def __call__(self, request: Any, send: Callable[[dict[str, Any]], Awaitable[Any]]) -> Any:
        """Await ``send`` with the plan applied; return the response."""
        plan, prepared = self._prepare(request)
        run_id = None
        if self.ledger is not None:
            run_id = await _maybe_await(self.ledger.start_run(**self._start_args(plan)))
            self.last_run_id = run_id
        started = time.monotonic()
        try:
            response = await send(prepared)
        except BaseException as exc:
            if run_id is not None:
                await _maybe_await(
                    self.ledger.complete_run(run_id, **self._failed(plan, exc, started))
                )
            raise
        usage = self._record(plan, response, run_id)
        if run_id is not None:
            await _maybe_await(
                self.ledger.complete_run(run_id, **self._completed(plan, usage, response, started))
            )
        return response


def completed_metrics(
    usage: CacheUsage, output_tokens: int | None, latency_ms: float | None
) -> dict[str, Any]:
    """The ``complete_run`` arguments of a successful call with this usage."""
    metrics: dict[str, Any] = {
        "status": "completed",
        "input_tokens": int(usage.input_tokens),
        "cache_read_tokens": int(usage.cache_read_tokens),
        "cache_write_tokens_5m": int(usage.cache_write_tokens_5m),
        "cache_write_tokens_1h": int(usage.cache_write_tokens_1h),
        "cache_write_tokens_30m": int(usage.cache_write_tokens_30m),
        "latency_ms": latency_ms,
    }
    if output_tokens is not None:
        metrics["output_tokens"] = output_tokens
        metrics["total_tokens"] = int(usage.input_tokens) + output_tokens
    return metrics


async def _maybe_await(value: Any) -> Any:
    """Await ``value`` when an async ledger returned a coroutine."""
    if inspect.isawaitable(value):
        return await value
    return value


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
