"""Reading the JSON files the commands take, with one-line errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .app import CliError


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
