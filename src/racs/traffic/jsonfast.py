"""The JSON decoder of the traffic readers: orjson when installed (the ``fast`` extra),
else the standard library's, with the same results either way.

orjson refuses what the standard library reads (``NaN``, integers beyond 64 bits), so a
line it refuses is read again by ``json``: the usage rule then names the bad count
instead of calling the whole line unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

UNPARSABLE: tuple[type[Exception], ...] = (ValueError, RecursionError)
"""What a decoder raises on input it cannot read (both decoders' errors are ValueErrors)."""

_fast: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as _fast
except ImportError:  # the standard library alone: slower, the same answers
    _fast = None


def _loads_fast(raw: bytes | str) -> Any:
    assert _fast is not None
    try:
        return _fast(raw)
    except UNPARSABLE:
        return json.loads(raw)


loads: Callable[[bytes | str], Any] = _loads_fast if _fast is not None else json.loads
"""Parse one JSON document (bytes or text)."""
FAST: bool = _fast is not None
"""Whether orjson is doing the work."""
