"""Opening a ledger: where it lives (a SQLite file or a PostgreSQL database) and its backend."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from racs.core.errors import ERR_STORAGE, RacsError, invalid
from racs.core.targets import Target, ledger_target
from racs.ledger import validate as v
from racs.ledger.api import Ledger
from racs.ledger.backend import Backend
from racs.ledger.seed import seed_options

ENV_VAR: Final = "RACS_LEDGER"


def default_ledger_path() -> Path:
    """``~/.racs/ledger.db``, the ledger used when no path, URL or RACS_LEDGER is given."""
    return Path.home() / ".racs" / "ledger.db"


def get_default_ledger_path() -> str:
    """``default_ledger_path()`` as a string, under the @relayplane/ledger seed's name."""
    return str(default_ledger_path())


def open_backend(target: str | Target) -> Backend:
    """The backend for a SQLite path or a PostgreSQL URL (see ``racs.core.targets``)."""
    where = ledger_target(target) if isinstance(target, str) else target
    if where.kind == "postgres":
        try:
            from racs.ledger.postgres import PostgresBackend
        except ImportError as exc:
            raise RacsError(
                ERR_STORAGE,
                f"a PostgreSQL ledger needs psycopg: pip install 'racs[postgres]' ({exc})",
            ) from exc
        return PostgresBackend(where.text)
    if where.kind != "sqlite":
        raise invalid(f"{where.shown}: a ledger is a SQLite path or a postgresql:// URL")
    from racs.ledger.sqlite import SqliteBackend

    return SqliteBackend(where.path)


def create_ledger(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    url: str | None = None,
    clock: Callable[[], int] | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> Ledger:
    """Open a ledger, creating and migrating its schema (and parent directories) as needed.

    Where: ``url``, else ``path`` (a ``postgresql://`` string selects PostgreSQL), else the
    ``RACS_LEDGER`` environment variable, else ``~/.racs/ledger.db``. ``clock`` returns ms
    since the epoch and stamps every event (default: the wall clock). The seed's spellings
    work too: ``create_ledger(db_path=...)`` and ``create_ledger({"dbPath": ...})``.
    """
    if isinstance(path, Mapping):
        seed = seed_options("create_ledger", path, {}, {"db_path": None, "url": None})
        path, url = seed.get("db_path"), seed.get("url", url)
    if db_path is not None:
        if path is not None:
            raise invalid("create_ledger: give either path or db_path, not both")
        path = db_path
    if url is not None:
        target = v.text("url", url)
    elif path is not None:
        target = os.fspath(path)
    else:
        target = os.environ.get(ENV_VAR) or str(default_ledger_path())
    return Ledger(open_backend(target), clock)
