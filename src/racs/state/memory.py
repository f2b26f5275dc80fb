"""In-memory snapshot backend: for tests and for handing state between engines."""

from __future__ import annotations

import copy
from typing import Any


class MemoryState:
    """Keeps the last snapshot in memory (a deep copy, so callers cannot alias it)."""

    is_async = False

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        """The last saved snapshot."""
        return copy.deepcopy(self.snapshot)

    def save(self, snapshot: dict[str, Any]) -> None:
        """Replace the saved snapshot."""
        self.snapshot = copy.deepcopy(snapshot)

    async def aload(self) -> dict[str, Any] | None:
        """``load`` for asyncio hosts."""
        return self.load()

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """``save`` for asyncio hosts."""
        self.save(snapshot)


def memory_state() -> MemoryState:
    """A fresh in-memory snapshot backend."""
    return MemoryState()
