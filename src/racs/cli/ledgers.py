"""Opening the run ledger the commands read and write (default path, file or URL)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from racs.cli.app import CliError
from racs.core.targets import ledger_target


def demo_ledger_path() -> Path:
    """Where ``racs simulate`` writes without --ledger: never the user's own ledger."""
    return Path.home() / ".racs" / "demo-ledger.db"


def default_read_target() -> str:
    """The ledger a read command uses when none is named: ``RACS_LEDGER``, else the default
    file; when that file does not exist yet but a demonstration was run, its demo ledger
    (said on stderr), so ``racs simulate && racs ledger stats`` shows the demonstration."""
    from racs.ledger.factory import ENV_VAR, default_ledger_path

    named = os.environ.get(ENV_VAR)
    if named:
        return named
    default = default_ledger_path()
    demo = demo_ledger_path()
    if not default.exists() and demo.exists():
        sys.stderr.write(f"racs: no ledger at {default} yet; reading the demo ledger {demo}\n")
        return str(demo)
    return str(default)


def open_ledger(target: str | None, *, must_exist: bool = False) -> Any:
    """The ledger at ``target`` (a path or a postgresql:// URL), else the default one.

    ``must_exist`` (the read commands) refuses a SQLite file that is not there rather than
    creating an empty ledger, so a mistyped path cannot pass for a clean one.
    """
    try:
        from racs.ledger import create_ledger
        from racs.ledger.factory import ENV_VAR, default_ledger_path
    except ImportError as exc:
        raise CliError(f"the run ledger is not available in this racs ({exc})") from None
    if target:
        path = target
    elif must_exist:
        path = default_read_target()
    else:
        path = os.environ.get(ENV_VAR) or str(default_ledger_path())
    where = ledger_target(path)
    if must_exist and where.kind == "sqlite" and not os.path.isfile(where.path):
        raise CliError(f"ledger {path}: no such file (nothing to read)")
    return create_ledger(where.text)
