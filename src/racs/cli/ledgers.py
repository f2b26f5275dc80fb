"""Opening the run ledger the commands read and write (default path, file or URL)."""

from __future__ import annotations

from typing import Any

from .app import CliError


def open_ledger(target: str | None) -> Any:
    """The ledger at ``target`` (a path or a postgresql:// URL), else the default one."""
    try:
        from ..ledger import create_ledger
    except ImportError as exc:
        raise CliError(f"the run ledger is not available in this racs ({exc})") from None
    if target is None:
        return create_ledger()
    if target.startswith(("postgresql://", "postgres://")):
        return create_ledger(url=target)
    return create_ledger(target)
