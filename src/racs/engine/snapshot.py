"""The snapshot codec: the engine's memories to a version-1 snapshot and back.

Each section restores on its own: a corrupt one degrades to empty (with a warning naming
the fault's kind, never its text) while the others still load. Snapshots written by
@takk/racs are converted section by section on the way in (``racs.state.takk``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from racs.core.accounting import Tokens, cost_of
from racs.core.errors import ERR_STATE_VERSION, RacsError
from racs.core.prices import PriceBook
from racs.state import takk
from racs.state.base import SNAPSHOT_VERSION

log = logging.getLogger("racs")

Loader = Callable[[Any], None]


def encode(saved_at: float, sections: Mapping[str, Any]) -> dict[str, Any]:
    """A version-1 snapshot of the given sections (hashes and counts, never content)."""
    return {"version": SNAPSHOT_VERSION, "savedAt": saved_at, "data": dict(sections)}


def decode(snapshot: Any, loaders: Mapping[str, Loader], price: takk.Pricer) -> None:
    """Feed each section of ``snapshot`` to its loader, in the loaders' order.

    Raises ``ERR_STATE_VERSION`` for an unknown version; anything else wrong degrades.
    """
    if not isinstance(snapshot, Mapping):
        log.warning("racs: snapshot is not an object; starting empty")
        return
    version = snapshot.get("version")
    if version != SNAPSHOT_VERSION:
        raise RacsError(
            ERR_STATE_VERSION,
            f"snapshot version {version!r} is not supported (this racs reads version "
            f"{SNAPSHOT_VERSION})",
        )
    data = snapshot.get("data")
    if not isinstance(data, Mapping):
        log.warning("racs: snapshot has no data object; starting empty")
        return
    raw: Mapping[str, Callable[[], Any]]
    if takk.is_takk_layout(data):  # written by @takk/racs: convert section by section
        raw = takk.sections(data, price)
    else:
        raw = {name: functools.partial(data.__getitem__, name) for name in data}
    for name, load in loaders.items():
        if name not in raw:
            continue
        try:
            load(_finite(raw[name]()))
        except Exception as exc:  # a corrupt section degrades to empty, never raises
            # The kind of fault only: the message may quote the damaged file's text.
            log.warning(
                "racs: snapshot section %r is corrupt (%s); starting it empty",
                name,
                type(exc).__name__,
            )


def _finite(section: Any) -> Any:
    """The section unchanged, or ValueError when a number in it is NaN or infinite.

    Python's json module reads ``NaN`` and ``Infinity``; such a count would poison every
    sum and comparison after it, and could never be written back as strict JSON.
    """
    stack = [section]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("a number is not finite")
        elif isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return section


def load_counter(value: Any) -> int:
    """The plan counter of a snapshot, validated."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("bad plan counter")
    return value


def pricer(prices: PriceBook) -> takk.Pricer:
    """Saved USD and write premium of restored token totals (None when unpriced)."""

    def price(
        provider: str, model: str, read: float, writes: dict[str, float]
    ) -> tuple[float, float] | None:
        rates = prices.rates(provider, model)
        if rates is None:
            return None
        tokens = Tokens(read=read, write_5m=writes.get("5m", 0), write_1h=writes.get("1h", 0))
        cost = cost_of(tokens, rates)
        return cost.saved, cost.write_premium

    return price
