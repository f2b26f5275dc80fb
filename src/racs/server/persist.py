"""Periodic snapshots of the served engine, with plan ids reserved ahead of use.

A killed server (``kill -9``, OOM, power loss) keeps what the last save held, at most one
interval old. Plan ids are numbered by the engine's counter, so a restart from an old
snapshot would hand out ids again; each save therefore records the counter plus a block
of ``PLAN_ID_BLOCK`` ids, and a plan that would pass the recorded mark is not answered
before a new mark is saved. After a crash the engine resumes above every id it gave out
(a gap of at most one block); a clean shutdown saves the exact counter, without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Final

from racs.engine import Racs
from racs.state.base import StateBackend

log = logging.getLogger("racs.server")

DEFAULT_SAVE_INTERVAL: Final = 5.0
"""Seconds between snapshots of ``racs serve --state`` (``--save-interval``)."""
PLAN_ID_BLOCK: Final = 1000
"""Plan ids reserved by each save; a crash skips at most this many."""


class StateSaver:
    """Saves ``engine`` through ``state`` every ``interval`` seconds and on plan-id demand."""

    def __init__(
        self,
        engine: Racs,
        state: StateBackend,
        interval: float = DEFAULT_SAVE_INTERVAL,
        block: int = PLAN_ID_BLOCK,
    ) -> None:
        self.engine = engine
        self.state = state
        self.interval = interval
        self.block = block
        self.reserved = 0
        """Plan ids up to this number are covered by a saved snapshot."""
        self.failures = 0
        self._lock = threading.RLock()
        self._retry_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def save(self) -> bool:
        """Save a snapshot now, reserving the next block of plan ids; False if it failed.

        A failure is logged, never raised: the service keeps running and tries again.
        """
        with self._lock:  # reentrant: cover() holds it while it saves
            try:
                snapshot = self.engine.snapshot()
                counter = snapshot["data"]["planCounter"]
                reserved = max(self.reserved, counter + self.block)
                marked = {**snapshot, "data": {**snapshot["data"], "planCounter": reserved}}
                self.state.save(marked)
            except Exception as exc:
                self.failures += 1
                self._retry_at = time.monotonic() + self.interval
                log.error("racs server: saving the engine state failed: %s", exc)
                return False
            self.reserved = reserved
            return True

    def uncovered(self, plans: int) -> bool:
        """True when plan number ``plans`` still needs a save before it may be answered."""
        return plans > self.reserved and time.monotonic() >= self._retry_at

    def cover(self, plans: int) -> None:
        """Make sure plan number ``plans`` is covered by a saved reservation.

        Called before a plan is answered, so no id beyond the saved mark leaves the server
        while the save is pending; a failing backend is retried at most once per interval
        (the plan is still answered, the failure logged).
        """
        if plans > self.reserved and time.monotonic() >= self._retry_at:
            with self._lock:
                if plans <= self.reserved:  # another request's save covered it meanwhile
                    return
                self.save()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.save)

    def start(self) -> None:
        """Reserve the first block now, then save every interval on the running loop."""
        self.save()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the periodic saves and wait out one in progress, so the final save (the
        engine's own ``close``) is the last write."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._drain)

    def _drain(self) -> None:
        with self._lock:
            pass

    def status(self) -> dict[str, Any]:
        """Counters for ``/healthz``."""
        return {"saveFailures": self.failures, "reservedPlanIds": self.reserved}
