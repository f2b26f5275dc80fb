"""`racs blocks`: Claude's 5-hour billing windows, their burn rate and the active one's
projection against a token limit."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.cli.files import nothing_read, price_book, shown_source, traffic_sources
from racs.cli.render import WIDTH_HELP, ByteProgress, width_of
from racs.cli.scope import add_filters, excluded, filters_of, iso_when, moment_ms, zone_of
from racs.report.blocks import blocks_of, render_blocks
from racs.report.periods import zone_name
from racs.traffic.lines import total_bytes
from racs.traffic.problems import Problems
from racs.traffic.sources import discover_files, read

SCHEMA = "racs.blocks/1"

_EXAMPLES = """\
examples:
  racs blocks                         # ~/.claude/projects, like racs report
  racs blocks --active --token-limit max
  racs blocks ~/.claude/projects --since 2026-02-01 -z Europe/Berlin --json

A block starts at its first request's time floored to the hour and lasts five
hours; the first request after its end starts the next one (a pause over five
hours shows as idle). Tokens count everything the usage limits count: fresh
input, cache reads, cache writes and output. The burn rate spreads a block's
tokens and dollars over the minutes from its first request to its last; the
active block's projection runs it on to the block's end. --token-limit N (or
max: the largest block that has ended) adds each block's share of it and warns
when the projection exceeds it. Only Claude requests count; others are named.

The table fits the terminal (120 columns when stdout is not one; COLUMNS wins):
the models are abbreviated to 32 characters, then end, requests, usd/h, models
and tokens/min are dropped in that order. --wide prints everything. When the
filters exclude every request read, the command says so and exits 2.
"""


def _limit(text: str) -> str:
    if text == "max":
        return text
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a token count or max, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return str(value)


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `blocks` subcommand."""
    p = commands.add_parser(
        "blocks",
        help="Claude's 5-hour billing windows: tokens, dollars, burn rate, projection",
        description="Cut Claude traffic on disk into the 5-hour windows its usage limits "
        "count, with tokens, dollars and burn rate per window and the active window's "
        "projection against a token limit.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, folders or ledger URLs")
    p.add_argument(
        "--ledger",
        nargs="?",
        const="",
        metavar="PATH|URL",
        help="also read a run ledger (without a value: RACS_LEDGER or ~/.racs/ledger.db)",
    )
    add_filters(p)
    p.add_argument("--pricing", metavar="FILE", help="pricing table (JSON): model -> prices")
    p.add_argument(
        "--token-limit",
        type=_limit,
        metavar="N|max",
        help="tokens per block to measure against (max: the largest ended block)",
    )
    p.add_argument("--active", action="store_true", help="only the active block")
    p.add_argument(
        "--as-of",
        type=iso_when,
        metavar="WHEN",
        help="the moment that decides the active block (default: now)",
    )
    p.add_argument("--json", action="store_true", help=f"print JSON (schema {SCHEMA})")
    p.add_argument("--wide", action="store_true", help=WIDTH_HELP)
    p.set_defaults(handler=run)


def run(ns: argparse.Namespace) -> int:
    """Read, cut into blocks, print."""
    sources = traffic_sources(ns.paths, ns.ledger)
    prices = price_book(ns.pricing)
    zone = zone_of(ns)
    filters = filters_of(ns, zone)
    problems = Problems()
    meter = ByteProgress(total_bytes(discover_files(sources)), "reading")
    try:
        found = blocks_of(read(sources, problems, meter), prices, filters)
    finally:
        meter.close()
    if found.read == 0:
        raise nothing_read(sources, problems)
    if found.admitted == 0:
        raise excluded(found.read, ns)
    if not found.blocks:
        others = ", ".join(sorted(found.others))
        raise CliError(
            f"{found.read:,} requests read, none of them Claude's ({others}): "
            "the 5-hour blocks count Claude requests only"
        )
    as_of = moment_ms(ns.as_of, zone)
    now_ms = time.time() * 1000 if as_of is None else as_of
    limit: float | None = None
    limit_source = ""
    if ns.token_limit == "max":
        limit = found.largest_past(now_ms)
        limit_source = "the largest ended block" if limit else ""
        if limit is None:
            print("racs blocks: --token-limit max: no block has ended yet", file=sys.stderr)
    elif ns.token_limit is not None:
        limit = float(ns.token_limit)
    active = found.active(now_ms)
    if ns.json:
        shown = [active] if ns.active and active else [] if ns.active else found.blocks
        doc = {
            "schema": SCHEMA,
            "sources": [shown_source(s) for s in sources],
            "filters": {
                "sinceMs": filters.since_ms,
                "untilMs": filters.until_ms,
                "project": filters.project,
                "session": filters.session,
                "model": filters.model,
            },
            "timezone": zone_name(zone),
            "nowMs": now_ms,
            "tokenLimit": limit,
            "notClaude": found.others,
            "blocks": [b.to_dict(now_ms, limit) for b in shown],
            "problems": problems.to_dict(),
        }
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        return EXIT_OK
    text = render_blocks(
        found,
        now_ms,
        zone,
        limit=limit,
        limit_source=limit_source,
        only_active=ns.active,
        width=width_of(ns),
    )
    sys.stdout.write(text)
    if problems:
        sys.stdout.write("\n" + "\n".join(problems.lines()) + "\n")
    return EXIT_OK
