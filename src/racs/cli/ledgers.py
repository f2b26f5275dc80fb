"""Opening the run ledger the commands read and write (default path, file or URL)."""

from __future__ import annotations

import os
from typing import Any

from .app import CliError


def open_ledger(target: str | None, *, must_exist: bool = False) -> Any:
    """The ledger at ``target`` (a path or a postgresql:// URL), else the default one.

    ``must_exist`` (the read commands) refuses a SQLite file that is not there rather than
    creating an empty ledger, so a mistyped path cannot pass for a clean one.
    """
    try:
        from ..ledger import create_ledger
        from ..ledger.api import ENV_VAR, default_ledger_path
    except ImportError as exc:
        raise CliError(f"the run ledger is not available in this racs ({exc})") from None
    if target is not None and target.startswith(("postgresql://", "postgres://")):
        return create_ledger(url=target)
    path = target or os.environ.get(ENV_VAR) or str(default_ledger_path())
    if path.startswith(("postgresql://", "postgres://")):
        return create_ledger(url=path)
    if must_exist and not os.path.isfile(os.path.expanduser(path)):
        raise CliError(f"ledger {path}: no such file (nothing to read)")
    return create_ledger(path)
