"""A bounded ring of periodic ``/stats`` totals: the dashboard's "over time" series.

The engine keeps cumulative totals only; sampling them every few seconds in process is
the cheapest way to draw a trend without a ledger, and the ring never grows past its cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Final

from racs.core.model import to_wire, whole
from racs.engine import Racs
from racs.server.shapes import History, StatsSample

log = logging.getLogger("racs.server")

DEFAULT_INTERVAL: Final = 5.0
DEFAULT_CAPACITY: Final = 720
"""One hour at the default 5 s interval."""


class StatsHistory:
    """Samples the engine's stats totals into a ring of at most ``capacity`` points."""

    def __init__(
        self, engine: Racs, interval: float = DEFAULT_INTERVAL, capacity: int = DEFAULT_CAPACITY
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.samples: deque[StatsSample] = deque(maxlen=capacity)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> StatsSample:
        """Take one sample now and append it to the ring."""
        stats = self.engine.stats()
        point: StatsSample = {
            "t": time.time_ns() // 1_000_000,
            "calls": stats.calls,
            # An overflowed sum is infinite; the wire form says null.
            "hitRatio": to_wire(stats.hit_ratio),
            "readTokens": whole(stats.read_tokens),
            "writeTokens": whole(stats.write_tokens),
            "uncachedTokens": whole(stats.uncached_tokens),
            "savedUsd": to_wire(stats.saved_usd),
            "netUsd": to_wire(stats.net_usd),
            "plans": self.engine.plans_created,
        }
        self.samples.append(point)
        return point

    def to_dict(self) -> History:
        """The ring in the wire form of ``GET /stats/history``, oldest first."""
        return {"intervalSeconds": self.interval, "samples": list(self.samples)}

    async def _run(self) -> None:
        while True:
            try:
                # In a thread: the engine's lock may be held by a call waiting on a ledger.
                await asyncio.to_thread(self.sample)
            except Exception as exc:  # a failed sample must not end the series
                log.warning("racs server: stats sample failed: %s", exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start sampling on the running event loop (first sample immediately)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
