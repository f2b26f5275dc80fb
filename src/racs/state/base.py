"""What a snapshot backend is, and the JSON encoding every backend shares."""

from __future__ import annotations

import json
from typing import Any, Final, Protocol, runtime_checkable

from racs.core.errors import ERR_STATE_IO, RacsError
from racs.core.limits import MAX_DEPTH, depth_exceeds

SNAPSHOT_VERSION: Final = 1


@runtime_checkable
class StateBackend(Protocol):
    """Where snapshots go: ``load`` once at start, ``save`` on flush and close."""

    def load(self) -> dict[str, Any] | None:
        """The last saved snapshot, or None when there is none yet."""

    def save(self, snapshot: dict[str, Any]) -> None:
        """Persist the snapshot, replacing the previous one."""

    async def aload(self) -> dict[str, Any] | None:
        """``load`` for asyncio hosts."""

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """``save`` for asyncio hosts."""


def is_async_backend(backend: object) -> bool:
    """True when the backend can only be used from asyncio (its client is asynchronous)."""
    return bool(getattr(backend, "is_async", False))


def encode(snapshot: dict[str, Any]) -> str:
    """Canonical JSON text of a snapshot (non-finite numbers are refused by design)."""
    try:
        return json.dumps(
            _js_numbers(snapshot), separators=(",", ":"), sort_keys=True, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise RacsError(ERR_STATE_IO, f"snapshot is not serialisable: {exc}") from None


def _js_numbers(value: Any) -> Any:
    """``value`` with integral floats as ints, as JavaScript writes numbers: token counts
    and epoch milliseconds restored as floats are saved as JSON integers again."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_js_numbers(v) for v in value]
    return value


def decode(text: str | bytes | None, where: str) -> dict[str, Any] | None:
    """Parse a stored snapshot; text that is not JSON raises ERR_STATE_IO (as in @takk/racs),
    JSON that is not an object degrades to no snapshot."""
    import logging

    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RacsError(ERR_STATE_IO, f"snapshot at {where} is not JSON: {exc}") from None
    except RecursionError:
        too_deep = True  # nested deeper than the parser's stack: certainly not a snapshot
    else:
        too_deep = depth_exceeds(value)
    if too_deep:
        logging.getLogger("racs").warning(
            "racs: snapshot at %s nests more than %d levels deep; starting empty", where, MAX_DEPTH
        )
        return None
    if not isinstance(value, dict):
        logging.getLogger("racs").warning(
            "racs: snapshot at %s is not an object; starting empty", where
        )
        return None
    return value
