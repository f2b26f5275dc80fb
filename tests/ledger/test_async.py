"""The asyncio flavour: the same calls, awaited."""

from __future__ import annotations

import asyncio

from ledger.helpers import Store
from racs.core.errors import ERR_NOT_FOUND, RacsError
from racs.ledger import AsyncLedger, create_async_ledger


class TestAsyncLedger:
    """AsyncLedger runs the ledger in worker threads."""

    def test_lifecycle_queries_and_batch(self, store: Store) -> None:
        """Start, record, complete, batch and query, all awaited; errors propagate."""

        async def scenario() -> None:
            async with await create_async_ledger(store.target) as ledger:
                assert isinstance(ledger, AsyncLedger)
                run_id = await ledger.start_run(
                    workspace_id="w", agent_id="a", provider="p", model="m"
                )
                await ledger.record_provider_call(run_id, {"status": 200})
                assert await ledger.complete_run(run_id, latency_ms=5) == 3
                async with ledger.batch() as batch:
                    other = batch.start_run(workspace_id="w", agent_id="a", provider="p", model="m")
                    batch.cancel_run(other)
                assert batch.positions == (4, 5)
                run = await ledger.get_run(run_id)
                assert run is not None and run.status == "completed"
                assert (await ledger.count_runs()) == 2
                assert len((await ledger.query_runs(limit=1)).items) == 1
                assert len(await ledger.get_run_events(run_id)) == 3
                assert len(await ledger.query_events(type="run.cancelled")) == 1
                assert (await ledger.get_usage_stats()).latency_ms.p50 == 5.0
                await ledger.record_cache_usage(
                    provider="p", model="m", input_tokens=1, cache_read_tokens=1
                )
                assert len(await ledger.cache_usage_totals()) == 1
                assert (await ledger.verify()).ok
                assert await ledger.rebuild() == 6
                try:
                    await ledger.cancel_run("ghost")
                except RacsError as exc:
                    assert exc.code == ERR_NOT_FOUND
                else:
                    raise AssertionError("cancel_run of an unknown run succeeded")

        asyncio.run(scenario())

    def test_concurrent_coroutines(self, store: Store) -> None:
        """50 coroutines appending at once: 100 events, chain intact."""

        async def scenario() -> None:
            ledger = await create_async_ledger(store.target)
            try:

                async def one(i: int) -> None:
                    run_id = await ledger.start_run(
                        workspace_id="w", agent_id=f"a{i}", provider="p", model="m"
                    )
                    await ledger.complete_run(run_id)

                await asyncio.gather(*(one(i) for i in range(50)))
                assert (await ledger.count_runs(status="completed")) == 50
                assert (await ledger.verify()).checked == 100
            finally:
                await ledger.close()

        asyncio.run(scenario())
