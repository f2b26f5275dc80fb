"""`racs statusline`: one line for Claude Code's status bar, from the JSON on stdin."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from racs.cli.app import EXIT_OK, CliError

NOW_ENV = "RACS_NOW"
"""A fixed "now" (ISO-8601 with a zone, or ms since the epoch), for tests and demos."""

_EXAMPLES = """\
examples:
  echo '{"transcript_path": "..."}' | racs statusline
  racs statusline --cache /tmp/racs-status.json < input.json

In Claude Code's settings.json:
  "statusLine": {"type": "command", "command": "racs statusline"}

The line: model | session cost | today's cost (every session, local day) | the active
5-hour block and its time left | the session's hit ratio | how long the session's cache
stays warm, and what the next request pays after that (re-write vs read the prefix).
What was read is cached in statusline.json in $RACS_CACHE_DIR (default
$XDG_CACHE_HOME/racs or ~/.cache/racs), keyed by each file's size and mtime; a bad input
prints a short line and exits 0.
"""


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `statusline` subcommand."""
    p = commands.add_parser(
        "statusline",
        help="one status line for Claude Code (reads its JSON on stdin)",
        description="Read the JSON Claude Code pipes to a status line command and print\n"
        "one line: costs, the active block, the hit ratio and the cache's warmth.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("--cache", metavar="FILE", help="where to keep what was read")
    p.add_argument("--no-cache", action="store_true", help="read everything, keep nothing")
    p.add_argument(
        "--projects", metavar="DIR", help="the folder of every session (default: the session's)"
    )
    p.add_argument("--utc", action="store_true", help="today is the UTC day (default: local)")
    p.add_argument("--now", metavar="TIME", help=f"fixed now (ISO-8601 or ms; env {NOW_ENV})")
    p.set_defaults(handler=run)


def now_ms(text: str | None) -> float:
    """``text`` (ISO-8601 with a zone, or ms since the epoch) in ms; the clock if ``None``."""
    if text is None:
        return time.time() * 1000
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--now: not a time: {text!r}") from None
    if moment.tzinfo is None:
        raise CliError(f"--now: give a zone: {text!r}")
    return moment.timestamp() * 1000


def run(ns: argparse.Namespace) -> int:
    """Print the status line; a bad input or a failure prints a short line, exit 0."""
    from racs.report.statusline import FALLBACK, default_cache_file, parse_input, status

    now = now_ms(ns.now if ns.now is not None else os.environ.get(NOW_ENV))
    given = parse_input(sys.stdin.read())
    if given is None:
        print(FALLBACK)
        return EXIT_OK
    cache = None if ns.no_cache else Path(ns.cache) if ns.cache else default_cache_file()
    try:
        line = status(
            given,
            now_ms=now,
            cache_file=cache,
            projects=Path(ns.projects) if ns.projects else None,
            tz=UTC if ns.utc else None,
        ).line()
    # A status bar must never break: whatever went wrong, one short line and exit 0.
    except Exception as exc:
        line = f"racs: status unavailable ({type(exc).__name__})"
    print(line)
    return EXIT_OK
