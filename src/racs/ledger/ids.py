"""Run ids: ULIDs, 26 Crockford base-32 characters whose order is their start order."""

from __future__ import annotations

import os
import random
import threading
from typing import Final

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Ten bits to two characters per lookup: a ULID is 13 lookups, not 26 divisions.
_PAIRS: Final = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_RANDOM_BITS: Final = 80

# Ids need to be unique, not secret: a private generator seeded from the OS (and reseeded
# in forked children, which would otherwise repeat the parent's ids) is fast and safe.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def _time_part(ms: int) -> str:
    t = _PAIRS
    return (
        t[(ms >> 40) & 1023]
        + t[(ms >> 30) & 1023]
        + t[(ms >> 20) & 1023]
        + t[(ms >> 10) & 1023]
        + t[ms & 1023]
    )


def _random_part(r: int) -> str:
    t = _PAIRS
    return (
        t[r >> 70]
        + t[(r >> 60) & 1023]
        + t[(r >> 50) & 1023]
        + t[(r >> 40) & 1023]
        + t[(r >> 30) & 1023]
        + t[(r >> 20) & 1023]
        + t[(r >> 10) & 1023]
        + t[r & 1023]
    )


class UlidFactory:
    """Monotonic ULIDs: within one millisecond the random part counts up, so ids stay ordered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0
        self._time = ""

    def new(self, ms: int) -> str:
        """A ULID for the millisecond ``ms`` (never smaller than the previous one)."""
        with self._lock:
            if ms <= self._last_ms:
                rnd = self._last_random + 1
                if rnd >> _RANDOM_BITS:  # 2**79 ids in one millisecond: borrow the next one
                    ms, rnd = self._last_ms + 1, _rng.getrandbits(_RANDOM_BITS - 1)
                else:
                    ms = self._last_ms
            else:
                # The top bit stays clear so counting up cannot overflow in practice.
                rnd = _rng.getrandbits(_RANDOM_BITS - 1)
            if ms != self._last_ms:
                self._time = _time_part(ms & 0xFFFF_FFFF_FFFF)
            self._last_ms, self._last_random = ms, rnd
            return self._time + _random_part(rnd)
