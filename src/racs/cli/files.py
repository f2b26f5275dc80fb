"""Files the commands read and write: JSON inputs, price cards, traffic sources, pages.

Every failure is a ``CliError`` (exit 2) with one line naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from racs.cli.app import CliError
from racs.cli.ledgers import default_read_target
from racs.core.accounting import parse_pricing_table
from racs.core.errors import RacsError
from racs.core.targets import parse_target
from racs.traffic import claude_code, codex
from racs.traffic.problems import Problems


def read_json(path: str, what: str) -> Any:
    """Parse the JSON file at ``path``; CliError (exit 2) naming it when that fails."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{what} file {path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{what} file {path}: is a directory") from None
    except UnicodeDecodeError:
        raise CliError(f"{what} file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CliError(f"{what} file {path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{what} file {path}: not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None


def load_pricing(path: str | None) -> dict[str, Any] | None:
    """The pricing table of ``path`` (validated), or None without one."""
    if path is None:
        return None
    raw = read_json(path, "pricing")
    try:
        parse_pricing_table(raw)
    except RacsError as exc:
        raise CliError(f"pricing file {path}: {exc.message}") from None
    if not isinstance(raw, dict):  # parse_pricing_table accepted it, so it is a mapping
        raise CliError(f"pricing file {path}: expected an object of model -> prices")
    return raw


def traffic_sources(paths: list[str], ledger: str | None) -> list[str]:
    """What to read: the given paths (and ledger), else Claude Code's folder and Codex
    CLI's sessions (those that exist), else the default ledger."""
    sources = [str(Path(p).expanduser()) for p in paths]
    for source in sources:
        if not parse_target(source).exists():
            raise CliError(f"no such file or folder: {source}")
    if ledger is not None:
        sources.append(ledger or default_read_target())
    if sources:
        return sources
    claude = claude_code.default_paths()[0]
    found = [str(p) for p in (claude, codex.default_paths()[0]) if p.exists()]
    if found:
        return found
    fallback = default_read_target()
    if parse_target(fallback).exists():
        return [fallback]
    raise CliError(
        f"nothing to read: no Claude Code transcripts at {claude} and no ledger at "
        f"{fallback}; give files, folders or a ledger (try: racs simulate && racs report)"
    )


class Counted:
    """Counts what passes through (how many requests the sources gave, before filters)."""

    def __init__(self, items: Any) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Any:
        for item in self._items:
            self.count += 1
            yield item


def nothing_read(sources: list[str], problems: Problems) -> CliError:
    """The error (exit 2) for sources holding no readable request; the problems that
    explain it go to stderr first."""
    import sys

    for line in problems.lines():
        print(line, file=sys.stderr)
    shown = ", ".join(shown_source(s) for s in sources)
    return CliError(f"no requests with usage found in {shown}")


def shown_source(source: str) -> str:
    """A source as it may be printed (a URL loses its password)."""
    try:
        return parse_target(source).shown
    except RacsError:  # not a target racs opens: printed as given
        return source


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: never half a page."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
