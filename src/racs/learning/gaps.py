"""Gaps between uses of one cache lineage: a decayed, log-binned histogram.

A lineage (a stream of calls whose cache each call reads and extends, or one exact prefix)
keeps only this: how long it waited between uses, binned, with older observations fading.
No prompt content, a few dozen numbers at most, JSON-able as a small dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from racs.core.tiers import TIER

if TYPE_CHECKING:
    from racs.learning.hedge import Hedge

BINS_PER_OCTAVE: Final = 12
ANCHOR_S: Final = float(TIER["5m"].seconds)
"""Bin edges are ``300 * 2**(b/12)`` s: the 5m TTL is an exact edge; 30m and 1h fall 0.1%
above an edge (a gap of 3596-3600 s counts as outliving 1h)."""
MIN_BIN: Final = -99
"""Everything up to about 1 s shares one bin."""
MAX_BIN: Final = 111
"""The open last bin: longer than about 51 hours, i.e. no reuse worth caching for."""
DECAY: Final = 0.95
"""Each new gap multiplies the weight of every older one by this (about 20 gaps of memory)."""
_RENORMALIZE_AT: Final = 1e100
_MIN_EDGE: Final = ANCHOR_S * 2.0 ** (MIN_BIN / BINS_PER_OCTAVE)

Row = Sequence[float]
RowOf = Callable[[int], Row]


def bin_of(gap_s: float) -> int:
    """The bin holding a gap of ``gap_s`` seconds: bin b covers (edge(b-1), edge(b)]."""
    if gap_s <= _MIN_EDGE:
        return MIN_BIN
    b = math.ceil(BINS_PER_OCTAVE * math.log2(gap_s / ANCHOR_S))
    return MIN_BIN if b < MIN_BIN else (MAX_BIN if b > MAX_BIN else b)


def representative(b: int) -> float:
    """The gap (seconds) that stands for bin ``b``: its geometric middle (the last: never)."""
    if b >= MAX_BIN:
        return math.inf
    return float(ANCHOR_S * 2.0 ** ((b - 0.5) / BINS_PER_OCTAVE))


class Cadence:
    """The learned gaps of one lineage, plus its last use.

    Decay is lazy: the newest gap gets weight ``scale`` and ``scale`` grows by 1/DECAY per
    gap, so old weights fade relatively without touching them; effective weights are the
    stored ones divided by ``scale``. ``sums`` are the stored weights folded through one
    cost table (see ``racs.learning.costs``), kept up to date gap by gap so a decision
    reads a few numbers instead of the whole histogram.
    """

    __slots__ = (
        "alive_until",
        "gaps",
        "hedge",
        "hist",
        "key",
        "last",
        "pending",
        "scale",
        "sums",
        "table",
        "written",
    )

    def __init__(self) -> None:
        self.hist: dict[int, float] = {}
        self.scale = 1.0
        self.gaps = 0
        """Real gaps observed (not decayed)."""
        self.last: float | None = None
        """When the lineage was last used (ms since the epoch)."""
        self.pending: str | None = None
        """Prefix key of a planned call whose usage has not been recorded yet."""
        self.key: str | None = None
        """Prefix key of the lineage's last use (a stream's; not persisted)."""
        self.sums: list[float] | None = None
        self.table: object = None
        self.written = 0.0
        """Prefix tokens of the lineage's last cache write."""
        self.alive_until = 0.0
        """Until when (ms) that write lives, keep-warm included."""
        self.hedge: Hedge | None = None
        """A stream's account against the shortest tier (``racs.learning.hedge``)."""

    def use(self, at_ms: float, row_of: RowOf | None = None) -> float | None:
        """A use at ``at_ms``: learn the gap since the last use; returns it (seconds).

        A use earlier than the last one (out-of-order records) teaches nothing.
        """
        last = self.last
        if last is None:
            self.last = at_ms
            return None
        if at_ms < last:
            return None
        self.last = at_ms
        gap = (at_ms - last) / 1000
        self.add(bin_of(gap), row_of)
        return gap

    def add(self, b: int, row_of: RowOf | None = None, weight: float = 1.0) -> None:
        """Count one gap in bin ``b``; older gaps fade by DECAY."""
        self.scale /= DECAY
        w = self.scale * weight
        self.hist[b] = self.hist.get(b, 0.0) + w
        self.gaps += 1
        sums = self.sums
        if sums is not None:
            if row_of is None:
                self.sums = None  # folded again on the next decision
            else:
                row = row_of(b)
                self.sums = [s + w * c for s, c in zip(sums, row, strict=True)]
        if self.scale > _RENORMALIZE_AT:
            self._renormalize()

    def _renormalize(self) -> None:
        inv = 1.0 / self.scale
        self.hist = {b: w * inv for b, w in self.hist.items() if w * inv > 1e-12}
        if self.sums is not None:
            self.sums = [s * inv for s in self.sums]
        self.scale = 1.0

    def folded(self, table: object, row_of: RowOf, width: int) -> list[float]:
        """The histogram folded through ``table`` (rebuilt when the table changed)."""
        if self.table is not table or self.sums is None:
            sums = [0.0] * width
            for b, w in self.hist.items():
                row = row_of(b)
                sums = [s + w * c for s, c in zip(sums, row, strict=True)]
            self.sums = sums
            self.table = table
        return self.sums

    def weights(self) -> dict[int, float]:
        """Effective (decayed) weight per bin, newest gap weighing 1."""
        inv = 1.0 / self.scale
        return {b: w * inv for b, w in sorted(self.hist.items())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: effective weights by bin, the gap count, the last use."""
        out: dict[str, Any] = {
            "h": {str(b): w for b, w in self.weights().items()},
            "n": self.gaps,
            "t": self.last,
        }
        if self.alive_until:
            out["w"] = [self.written, self.alive_until]
        if self.hedge is not None:
            out["a"] = self.hedge.to_list()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Cadence:
        """Restore a state written by ``to_dict`` (raises ValueError on a bad one)."""
        c = cls()
        hist = raw.get("h", {})
        if not isinstance(hist, Mapping):
            raise ValueError("h must map bins to weights")
        for key, w in hist.items():
            b = int(key)
            weight = float(w)
            if not (MIN_BIN <= b <= MAX_BIN) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"bad bin {key!r}: {w!r}")
            c.hist[b] = weight
        n = raw.get("n", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("n must be a count")
        c.gaps = n
        last = raw.get("t")
        c.last = None if last is None else float(last)
        written = raw.get("w")
        if written is not None:
            c.written, c.alive_until = (float(x) for x in written)
        hedge = raw.get("a")
        if hedge is not None:
            from racs.learning.hedge import Hedge

            c.hedge = Hedge.from_list(hedge)
        return c
