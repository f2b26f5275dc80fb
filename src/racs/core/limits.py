"""The documented bounds of everything racs accepts, shared by the engine and the ledger.

Numbers: a count, amount or duration is at most ``MAX_NUMBER`` (2**53 - 1, the largest
integer a JSON reader in any language keeps exactly), so sums of them stay finite in a
float: the engine's aggregates would need 2**900 records to overflow. Token counts are at
most ``MAX_TOKENS`` (2**32 - 1), which keeps 64-bit sums of them exact. Times are ms since
the epoch from 1970-01-01 to 9999-12-31. Free-form JSON (metadata, payloads, snapshots)
nests at most ``MAX_DEPTH`` containers deep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from racs.core.errors import invalid

MAX_NUMBER: Final = 2**53 - 1
"""The largest count, amount or duration accepted anywhere."""
MAX_TOKENS: Final = 2**32 - 1
"""The largest token count one usage record or run may carry (4,294,967,295).

Far above any real call, and low enough that the ledger's 64-bit sums cannot overflow:
that takes 2**31 maximal records in one hour, hundreds of times what one ledger can
append in an hour, and so rebuilds and statistics never meet a sum they cannot hold.
"""
MAX_INSTANT_MS: Final = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the latest time accepted (the earliest is the epoch)."""
MAX_DEPTH: Final = 32
"""How deeply free-form JSON (metadata, event payloads, snapshot sections) may nest."""
MAX_PAYLOAD_CHARS: Final = 256 * 1024
"""The largest canonical JSON payload one ledger event may carry, in characters."""


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests mappings and lists more than ``limit`` deep.

    Iterative (an explicit stack), so a value nested 100,000 deep is measured without
    recursion; it stops at the first container past the limit.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, Mapping | list | tuple)
        )
    return False


def number(value: Any, name: str, *, optional: bool = False) -> float | None:
    """A number from 0 to MAX_NUMBER (bools refused), or ``None`` when optional and absent.

    The bound keeps every sum the engine keeps finite (see this module).
    """
    if value is None:
        if optional:
            return None
        raise invalid(f"{name} is required and must be a finite number >= 0")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"{name} must be a finite number >= 0, got {type(value).__name__}")
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not 0 <= as_float <= MAX_NUMBER:  # NaN and infinities fail too
        raise invalid(f"{name} must be a finite number from 0 to {MAX_NUMBER} (2**53 - 1)")
    return value
