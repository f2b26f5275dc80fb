"""A stream as replay sees it: one ``Step`` per request, and what the future holds.

A step's prompt is known only by lengths: its cacheable ``prefix`` and how much of it it
``shares`` with the previous step of the stream. An entry written at length ``L`` can be
read again at a later step exactly when every step in between (and that step) shares at
least ``L`` tokens with its predecessor, so a stream is a chain of prefixes that only
ever extends, or cuts back (compaction, an edited prompt) and extends again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..accounting import Rates
from ..traffic.model import Request
from .strategies import Decision


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a stream, reduced to what the cache simulation needs."""

    t_ms: float
    prefix: int
    """Cacheable prefix tokens (reads + writes for usage-only traffic)."""
    shared: int
    """Tokens shared with the previous step of the stream (0 for the first)."""
    input: float
    """All-in input tokens."""
    output: float = 0.0
    external: int = 0
    """A read offered from a cache outside the stream (kept warm elsewhere), this step only."""
    rates: Rates | None = None
    recorded: Decision = field(default_factory=lambda: Decision(None))
    request: Request | None = None
    anomaly: str | None = None
    """Why the reconstruction needed an explanation the cache model does not give."""
    miss: bool = False
    """A routing miss under the pessimistic setting: nothing is read."""


class Horizon:
    """Answers "does the prefix stay intact until then?" for one stream (hindsight).

    Used only to drop entries that provably can never be read again, so the simulation
    and the optimum carry the live state and nothing more.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.times = [s.t_ms for s in steps]
        level = [s.shared for s in steps]
        # Sparse table of minimums over windows of 2^k steps: O(1) range minimum.
        self.table = [level]
        width = 1
        while 2 * width <= len(level):
            prev = self.table[-1]
            self.table.append([min(prev[i], prev[i + width]) for i in range(len(prev) - width)])
            width *= 2

    def intact(self, after: int, until_ms: float, tokens: int) -> bool:
        """True when every step after index ``after`` up to time ``until_ms`` shares
        at least ``tokens`` tokens with its predecessor."""
        lo = after + 1
        hi = bisect.bisect_right(self.times, until_ms, lo) - 1
        if hi < lo:
            return True
        k = (hi - lo + 1).bit_length() - 1
        row = self.table[k]
        return min(row[lo], row[hi - (1 << k) + 1]) >= tokens
