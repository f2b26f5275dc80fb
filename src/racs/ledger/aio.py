"""The ledger for asyncio hosts: the same methods as coroutines.

Each call runs the thread-safe synchronous ledger in a worker thread, so the event loop
never waits on storage. A batch gathers calls without I/O and commits in a thread on exit.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from racs.ledger.api import Ledger
from racs.ledger.batch import Batch
from racs.ledger.factory import create_ledger

P = ParamSpec("P")
T = TypeVar("T")


def _offload(
    method: Callable[Concatenate[Ledger, P], T],
) -> Callable[Concatenate[AsyncLedger, P], Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def call(self: AsyncLedger, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, self.sync, *args, **kwargs)

    return call


class AsyncBatch:
    """``async with ledger.batch() as b:`` -- ``b`` records synchronously, commit is awaited."""

    def __init__(self, batch: Batch) -> None:
        self._batch = batch

    async def __aenter__(self) -> Batch:
        return self._batch

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await asyncio.to_thread(self._batch.commit)
        else:
            self._batch.discard()


class AsyncLedger:
    """``Ledger`` with every call awaitable; ``sync`` is the wrapped ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.sync = ledger

    start_run = _offload(Ledger.start_run)
    complete_run = _offload(Ledger.complete_run)
    cancel_run = _offload(Ledger.cancel_run)
    record_auth_validation = _offload(Ledger.record_auth_validation)
    record_policy_evaluation = _offload(Ledger.record_policy_evaluation)
    record_routing = _offload(Ledger.record_routing)
    record_provider_call = _offload(Ledger.record_provider_call)
    record_retry = _offload(Ledger.record_retry)
    record_cache_usage = _offload(Ledger.record_cache_usage)
    get_run = _offload(Ledger.get_run)
    query_runs = _offload(Ledger.query_runs)
    count_runs = _offload(Ledger.count_runs)
    get_run_events = _offload(Ledger.get_run_events)
    query_events = _offload(Ledger.query_events)
    get_usage_stats = _offload(Ledger.get_usage_stats)
    cache_usage_totals = _offload(Ledger.cache_usage_totals)
    verify = _offload(Ledger.verify)
    anchor = _offload(Ledger.anchor)
    rebuild = _offload(Ledger.rebuild)
    close = _offload(Ledger.close)

    def batch(self) -> AsyncBatch:
        """A batch committed as one transaction when the ``async with`` block exits cleanly."""
        return AsyncBatch(self.sync.batch())

    async def __aenter__(self) -> AsyncLedger:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def create_async_ledger(
    path: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    clock: Callable[[], int] | None = None,
) -> AsyncLedger:
    """``create_ledger`` for asyncio: opens (and migrates) in a worker thread."""
    ledger = await asyncio.to_thread(create_ledger, path, url=url, clock=clock)
    return AsyncLedger(ledger)
