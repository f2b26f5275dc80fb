"""`racs report`: where prompt-cache money goes, from the traffic already on disk."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from racs.cli.app import EXIT_OK
from racs.cli.files import (
    Counted,
    load_pricing,
    nothing_read,
    shown_source,
    traffic_sources,
    write_atomically,
)
from racs.cli.render import ByteProgress
from racs.core.prices import PriceBook
from racs.report.build import Filters, build_report
from racs.report.text import render
from racs.report.wire import to_json
from racs.traffic.lines import total_bytes
from racs.traffic.problems import Problems
from racs.traffic.sources import discover_files, read

_EXAMPLES = """\
examples:
  racs report                  # ~/.claude/projects, else the default run ledger
  racs report ~/.claude/projects --since 2026-02-01
  racs simulate && racs report --ledger
  racs report spans.jsonl litellm-spend.csv exchanges.jsonl postgresql://host/db
  racs report session.jsonl --json > report.json
  racs report ~/.claude/projects --html report.html --model opus

Dollars use the prices in force on each request's date (the bundled genai-prices
database, or --pricing FILE, which wins); 1h cache writes are priced at the 1h rate.
Each request that paid to write what was already cached is a finding with a cause,
a price (what it paid minus what reading would have cost) and one thing to do.
Unreadable lines are counted and named; the rest of the report stands.

Sources: Claude Code transcripts (folders or files; subagents and compactions are
followed), a racs run ledger (SQLite file or postgresql:// URL), OTLP JSON GenAI
spans, LiteLLM standard logging payloads (JSON lines) and spend-logs exports (JSON
or CSV), and raw {request, response} JSON lines for Anthropic, OpenAI, Gemini and
Bedrock. Without PATH: Claude Code's projects folder ($CLAUDE_CONFIG_DIR/projects or
~/.claude/projects) when it exists, else the default run ledger.
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
        help="files, folders or ledger URLs (default: see below)",
    )
    p.add_argument(
        "--ledger",
        nargs="?",
        const="",
        metavar="PATH|URL",
        help="also read a run ledger (without a value: RACS_LEDGER or ~/.racs/ledger.db)",
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
    p.add_argument(
        "--no-hindsight",
        action="store_true",
        help="skip replaying the top findings' streams for what the best choice would save",
    )
    p.set_defaults(handler=run)


def run(ns: argparse.Namespace) -> int:
    """Read, build, print (and write the page)."""
    sources = traffic_sources(ns.paths, ns.ledger)
    pricing = load_pricing(ns.pricing)
    prices = PriceBook(pricing)
    filters = Filters(ns.since, ns.until, ns.project, ns.session, ns.model)
    problems = Problems()
    meter = ByteProgress(total_bytes(discover_files(sources)), "reading")
    requests = Counted(read(sources, problems, meter))
    try:
        report = build_report(
            requests,
            prices,
            problems,
            filters,
            top=ns.top,
            sources=[shown_source(s) for s in sources],
            hindsight=not ns.no_hindsight,
        )
    finally:
        meter.close()
    if requests.count == 0:
        raise nothing_read(sources, problems)
    if ns.html:
        from racs.report.html import render_html

        write_atomically(Path(ns.html), render_html(report))
    if ns.json:
        sys.stdout.write(json.dumps(to_json(report), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(render(report, limit=ns.rows))
        if ns.html:
            sys.stdout.write(f"\nWrote {ns.html}\n")
    return EXIT_OK
