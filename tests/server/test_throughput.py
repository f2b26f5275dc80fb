"""Where engine calls run with a ledger: on the event loop when the engine's lock is free
(as fast as a server without a ledger), in the thread pool when a thread holds it (so a
slow ledger never stalls health checks). Throughput itself is measured by
bench/serve_bench.py, not asserted here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from racs import create_racs
from server.conftest import Served, open_ledger, plan_input


def _served_with_ledger(serve: Callable[..., Served], tmp_path: Path) -> Served:
    ledger = open_ledger(tmp_path / "ledger.db")
    return serve(engine=create_racs(ledger=ledger), ledger=ledger)


class TestEngineCalls:
    def test_plans_run_on_the_loop_when_the_engine_is_free(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """Sequential plans with a ledger never wait for the lock: none leaves the loop."""
        served = _served_with_ledger(serve, tmp_path)
        with served.client() as c:
            for i in range(5):
                assert c.post("/plan", json=plan_input(f"turn {i}")).status_code == 200
        calls = served.app.state.calls
        assert (calls.inline, calls.pooled) == (5, 0)

    def test_a_held_lock_sends_plans_to_the_pool_and_health_still_answers(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """While a thread holds the engine's lock (a usage record waiting on a slow ledger),
        /healthz answers and a plan waits in the pool, answered once the lock is free."""
        served = _served_with_ledger(serve, tmp_path)
        engine = served.engine
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with engine._lock:
                holding.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait(10)
        answers: list[int] = []
        with served.client() as c:
            planner = threading.Thread(
                target=lambda: answers.append(c.post("/plan", json=plan_input()).status_code)
            )
            planner.start()
            try:
                deadline = time.monotonic() + 10
                while served.app.state.calls.pooled == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert served.app.state.calls.pooled == 1  # the plan waits in the pool
                for _ in range(3):
                    assert c.get("/healthz").status_code == 200
                assert answers == []  # still waiting for the lock
            finally:
                release.set()
                holder.join(10)
                planner.join(10)
        assert answers == [200]
