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

from racs.core.accounting import Rates
from racs.replay.strategies import Decision
from racs.traffic.model import Request


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
    """Where a stream's prompt is cut back later on (hindsight).

    A cut is a step sharing less than its predecessor's prefix (compaction, an edited
    prompt); only cuts can make an entry unreadable before it expires. Used only to drop
    entries that provably can never be read again, and by the optimum's dominance rule.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.cuts = [
            (i, s.t_ms, s.shared)
            for i, s in enumerate(steps)
            if i > 0 and s.shared < steps[i - 1].prefix
        ]
        self._index = [c[0] for c in self.cuts]

    def after(self, index: int) -> list[tuple[int, float, int]]:
        """The cuts at steps after ``index``."""
        return self.cuts[bisect.bisect_right(self._index, index) :]

    def intact(self, after: int, until_ms: float, low: int, high: int) -> bool:
        """True when no step after ``after`` up to ``until_ms`` cuts the prompt to a
        length in ``[low, high)`` (which would keep an entry of ``low`` tokens and lose
        one of ``high``)."""
        cuts = self.cuts
        for k in range(bisect.bisect_right(self._index, after), len(cuts)):
            _, t, shared = cuts[k]
            if t > until_ms:
                return True
            if low <= shared < high:
                return False
        return True
