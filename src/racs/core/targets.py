"""Where a ledger or a state lives: the one place that tells a path from a URL.

A target is what a user writes after ``--ledger`` or ``--state`` (or in ``RACS_LEDGER``):
a file path, a ``postgresql://`` URL (a PostgreSQL ledger) or a ``redis://`` URL (a
shared state on Redis or Valkey). ``parse_target`` reads it once; callers ask the result.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from racs.core.errors import invalid

Kind = Literal["sqlite", "postgres", "redis", "file"]
"""A SQLite ledger file, a PostgreSQL database, a Redis (or Valkey) server, a snapshot file."""
Role = Literal["ledger", "state"]
"""What the target is for: it decides what a plain path holds (a SQLite ledger, a snapshot)."""

SCHEMES: Final[dict[str, Kind]] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "valkey": "redis",
    "valkeys": "redis",
}
"""The URL schemes racs opens, and the kind of store each names."""

_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed ledger or state target: its kind and the text it was read from."""

    kind: Kind
    text: str
    """As given (a path is expanded only by ``path``; a URL is passed on untouched)."""

    @property
    def is_url(self) -> bool:
        """A database or server URL rather than a file."""
        return self.kind in ("postgres", "redis")

    @property
    def path(self) -> str:
        """The file path with ``~`` expanded (a SQLite ``file:`` URI or ``:memory:`` as is)."""
        if self.is_url:
            raise invalid(f"{self.shown} is a URL, not a file path")
        return os.path.expanduser(self.text)

    @property
    def shown(self) -> str:
        """The target as it may be printed: a URL's user and password become ``***``."""
        if not self.is_url or "@" not in self.text:
            return self.text
        scheme, rest = self.text.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"

    def exists(self) -> bool:
        """A URL (whose server is asked only when opened), or a file or folder that is there."""
        return self.is_url or Path(self.path).exists()


def parse_target(text: str | os.PathLike[str], role: Role = "ledger") -> Target:
    """Read ``text`` as a URL of a known scheme or else as a path (a SQLite ledger for
    ``role="ledger"``, a snapshot file for ``"state"``); RacsError for an unknown scheme."""
    value = os.fspath(text) if isinstance(text, os.PathLike) else text
    if not isinstance(value, str):
        raise invalid(f"a {role} target must be text, got {type(value).__name__}")
    match = _SCHEME.match(value)
    # A SQLite ``file:`` URI is a path to the backends that take paths.
    if match is None or match.group(1).lower() == "file":
        return Target("sqlite" if role == "ledger" else "file", value)
    kind = SCHEMES.get(match.group(1).lower())
    if kind is None:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise invalid(f"{role} target {match.group(0)}...: unknown scheme (a path, or {known})")
    return Target(kind, value)


def ledger_target(text: str | os.PathLike[str]) -> Target:
    """``text`` as a ledger: a SQLite path or a PostgreSQL URL (RacsError for anything else)."""
    target = parse_target(text, "ledger")
    if target.kind == "redis":
        raise invalid(f"{target.shown}: a ledger is a SQLite path or a postgresql:// URL")
    return target
