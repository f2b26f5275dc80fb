"""`racs report`: where prompt-cache money goes, from the traffic already on disk."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racs.cli.app import EXIT_OK
from racs.cli.files import (
    Counted,
    nothing_read,
    price_book,
    shown_source,
    traffic_sources,
    write_atomically,
)
from racs.cli.render import WIDTH_HELP, ByteProgress, Step, width_of
from racs.cli.scope import add_filters, excluded, filters_of, zone_of
from racs.report.build import build_report
from racs.report.periods import PERIODS
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
  racs report --period week -z Europe/Berlin
  racs report --period month --utc --wide

Dollars use the prices in force on each request's date (the bundled genai-prices
database, or --pricing FILE, which wins); 1h cache writes are priced at the 1h rate.
Each request that paid to write what was already cached is a finding with a cause,
a price (what it paid minus what reading would have cost) and one thing to do.
Unreadable lines are counted and named; the rest of the report stands.
When the filters exclude every request read, the command says so and exits 2.

Days, weeks (from Monday) and months are cut in the time zone (-z ZONE, default
the local zone; --utc), and every time is printed in it; --since/--until without
an offset are in it too. The --period table lists the latest periods, each with
one indented row per model.

Tables fit the terminal (120 columns when stdout is not one; COLUMNS wins). A
table too wide abbreviates its name column to 36 characters, then drops
efficiency, fresh, write 30m and output, abbreviates the name to 20, then drops
requests, write 5m, write 1h, read and hit, in that order, until it fits; the
causes' meanings wrap; long lines wrap. --wide prints everything.

Sources: Claude Code transcripts (folders or files; subagents and compactions are
followed), a racs run ledger (SQLite file or postgresql:// URL), OTLP JSON GenAI
spans, LiteLLM standard logging payloads (JSON lines) and spend-logs exports (JSON
or CSV), and raw {request, response} JSON lines for Anthropic, OpenAI, Gemini and
Bedrock. Without PATH: Claude Code's projects folder ($CLAUDE_CONFIG_DIR/projects or
~/.claude/projects) when it exists, else the default run ledger.
"""


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
        "class per session, stream, agent, model, project and day, week or month, with "
        "every cache miss "
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
    add_filters(p)
    p.add_argument(
        "--period",
        choices=PERIODS,
        default="day",
        help="the calendar table: day, week or month (default day)",
    )
    p.add_argument("--wide", action="store_true", help=WIDTH_HELP)
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
    prices = price_book(ns.pricing)
    zone = zone_of(ns)
    filters = filters_of(ns, zone)
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
            zone=zone,
            step=Step("racs report"),
        )
    finally:
        meter.close()
    if requests.count == 0:
        raise nothing_read(sources, problems)
    if report.total.requests == 0:
        raise excluded(requests.count, ns)
    if ns.html:
        from racs.report.html import render_html

        write_atomically(Path(ns.html), render_html(report))
    if ns.json:
        sys.stdout.write(json.dumps(to_json(report), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(render(report, limit=ns.rows, width=width_of(ns), period=ns.period))
        if ns.html:
            sys.stdout.write(f"\nWrote {ns.html}\n")
    return EXIT_OK
