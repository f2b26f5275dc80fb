"""The one error family of racs: every failure a caller can act on is a RacsError."""

from __future__ import annotations

from typing import Final

ERR_INVALID_INPUT: Final = "ERR_INVALID_INPUT"
"""Input (a plan input, a usage record, an option, a ledger call) is malformed."""
ERR_STATE_VERSION: Final = "ERR_STATE_VERSION"
"""A saved snapshot or ledger schema has a version this racs does not understand."""
ERR_STATE_IO: Final = "ERR_STATE_IO"
"""A state backend could not be read or written."""
ERR_NOT_FOUND: Final = "ERR_NOT_FOUND"
"""A referenced object (run, prefix) does not exist."""
ERR_CONFLICT: Final = "ERR_CONFLICT"
"""The operation contradicts stored state (e.g. an event after a run ended)."""
ERR_STORAGE: Final = "ERR_STORAGE"
"""The storage backend (SQLite, PostgreSQL) failed."""
ERR_CLOSED: Final = "ERR_CLOSED"
"""The object was used after close()."""


class RacsError(Exception):
    """An error with a stable machine-readable ``code`` and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __reduce__(self) -> tuple[type[RacsError], tuple[str, str]]:
        return (type(self), (self.code, self.message))


def invalid(message: str) -> RacsError:
    """Build the ERR_INVALID_INPUT error every validator raises."""
    return RacsError(ERR_INVALID_INPUT, message)
