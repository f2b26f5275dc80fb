"""Run ids: ULIDs, 26 Crockford base-32 characters whose order is their start order."""

from __future__ import annotations

import base64
import os
import threading
from typing import Final

_RANDOM_BITS: Final = 80
_RANDOM_MASK: Final = (1 << _RANDOM_BITS) - 1
# RFC 4648 base 32 and Crockford's differ only in the alphabet; translating lets the C
# encoder do the bit shuffling.
_CROCKFORD: Final = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


class UlidFactory:
    """Monotonic ULIDs: within one millisecond the random part counts up, so ids stay ordered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self, ms: int) -> str:
        """A ULID for the millisecond ``ms`` (never smaller than the previous one)."""
        with self._lock:
            if ms <= self._last_ms:
                ms = self._last_ms
                rnd = self._last_random + 1
                if rnd > _RANDOM_MASK:  # 2**80 ids in one millisecond: borrow the next one
                    ms, rnd = ms + 1, int.from_bytes(os.urandom(10)) >> 1
            else:
                # The top bit stays clear so counting up cannot overflow in practice.
                rnd = int.from_bytes(os.urandom(10)) >> 1
            self._last_ms, self._last_random = ms, rnd
        value = (ms & 0xFFFF_FFFF_FFFF) << _RANDOM_BITS | rnd
        # 130 bits = 2 zero bits + 128 bits: shifted into 17 bytes, the first 26 base-32
        # characters are exactly the ULID.
        text = base64.b32encode((value << 6).to_bytes(17, "big"))[:26].decode("ascii")
        return text.translate(_CROCKFORD)
