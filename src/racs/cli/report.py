"""`racs report`: where prompt-cache money goes, from the traffic already on disk."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..prices import PriceBook
from ..report.build import Filters, build_report
from ..report.html import render_html
from ..report.text import render
from ..report.wire import to_json
from ..traffic import claude_code
from ..traffic.lines import total_bytes
from ..traffic.problems import Problems
from ..traffic.sources import discover_files, read
from .analyze import load_pricing
from .app import EXIT_OK, CliError
from .render import ByteProgress

_EXAMPLES = """\
examples:
  racs report                               # ~/.claude/projects (or $CLAUDE_CONFIG_DIR)
  racs report ~/.claude/projects --since 2026-02-01
  racs report session.jsonl --json > report.json
  racs report ~/.claude/projects --html report.html --model opus

Dollars use the prices in force on each request's date (the bundled genai-prices
database, or --pricing FILE, which wins); 1h cache writes are priced at the 1h rate.
Each request that paid to write what was already cached is a finding with a cause,
a price (what it paid minus what reading would have cost) and one thing to do.
Unreadable lines are counted and named; the rest of the report stands.
"""


def _moment(text: str) -> float:
    """ISO date or date-time (UTC unless it says otherwise) -> ms since the epoch."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or time, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `report` subcommand."""
    p = commands.add_parser(
        "report",
        help="where prompt-cache money goes, from Claude Code transcripts and other logs",
        description="Read traffic already on disk and report tokens and dollars by token "
        "class per session, stream, agent, model, project and day, with every cache miss "
        "that cost money priced, its cause named and one thing to do.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders (default: Claude Code's projects folder)",
    )
    p.add_argument("--since", type=_moment, metavar="WHEN", help="from this ISO date/time")
    p.add_argument("--until", type=_moment, metavar="WHEN", help="before this ISO date/time")
    p.add_argument("--project", metavar="TEXT", help="projects containing TEXT")
    p.add_argument("--session", metavar="ID", help="sessions whose id starts with ID")
    p.add_argument("--model", metavar="TEXT", help="models containing TEXT")
    p.add_argument("--pricing", metavar="FILE", help="pricing table (JSON): model -> prices")
    p.add_argument("--top", type=_count, default=50, metavar="N", help="findings kept (default 50)")
    p.add_argument(
        "--rows", type=_count, default=10, metavar="N", help="rows per table (default 10)"
    )
    p.add_argument(
        "--json", action="store_true", help="print the JSON report (schema racs.report/1)"
    )
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    p.set_defaults(handler=run)


def run(ns: argparse.Namespace) -> int:
    """Read, build, print (and write the page)."""
    paths = [Path(p).expanduser() for p in ns.paths] or claude_code.default_paths()
    if not ns.paths and not paths[0].exists():
        raise CliError(f"no Claude Code transcripts at {paths[0]}; give files or folders to read")
    pricing = load_pricing(ns.pricing)
    prices = PriceBook(pricing)
    filters = Filters(ns.since, ns.until, ns.project, ns.session, ns.model)
    problems = Problems()
    files = discover_files(paths)
    meter = ByteProgress(total_bytes(files), "reading")
    try:
        report = build_report(
            read(paths, problems, meter),
            prices,
            problems,
            filters,
            top=ns.top,
            sources=[str(p) for p in paths],
        )
    finally:
        meter.close()
    if ns.html:
        Path(ns.html).write_text(render_html(report), encoding="utf-8")
    if ns.json:
        sys.stdout.write(json.dumps(to_json(report), indent=2) + "\n")
    else:
        sys.stdout.write(render(report, limit=ns.rows))
        if ns.html:
            sys.stdout.write(f"\nWrote {ns.html}\n")
    return EXIT_OK
