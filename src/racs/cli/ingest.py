"""`racs ingest`: write imported traffic into the run ledger, idempotently."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.cli.files import load_pricing, nothing_read
from racs.cli.render import ByteProgress
from racs.core.prices import PriceBook
from racs.core.targets import parse_target
from racs.traffic.ingest import ingest
from racs.traffic.lines import total_bytes
from racs.traffic.problems import Problems
from racs.traffic.sources import discover_files, read

_EXAMPLES = """\
examples:
  racs ingest ~/.claude/projects
  racs ingest spans.jsonl litellm.jsonl --ledger postgresql://localhost/racs

Each request becomes a run (run.started, cache.usage, run.completed) stamped with the
request's own time, priced like 'racs report' prices it (cost_usd), with an id derived
from the request, so ingesting the same files again adds nothing. 'racs ledger stats'
and the dashboard then show the traffic.
"""


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `ingest` subcommand."""
    p = commands.add_parser(
        "ingest",
        help="write traffic (Claude Code, OTLP, LiteLLM, raw exchanges) into the run ledger",
        description="Import the traffic in SOURCE files or folders into the run ledger as "
        "runs and cache.usage records; importing twice adds nothing.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="files or folders")
    p.add_argument(
        "--ledger",
        metavar="PATH|URL",
        help="run ledger to write (default: RACS_LEDGER or ~/.racs/ledger.db)",
    )
    p.add_argument("--pricing", metavar="FILE", help="pricing table (JSON): model -> prices")
    p.set_defaults(handler=run)


def run(ns: argparse.Namespace) -> int:
    """Import, then say what was added."""
    from racs.ledger import create_ledger

    target: str | None = ns.ledger

    def open_ledger(clock: Callable[[], int]) -> Any:
        return create_ledger(target, clock=clock)

    if target is not None and any(str(s) == target for s in ns.sources):
        raise CliError("the ledger to write cannot also be a source")
    for source in ns.sources:
        if not parse_target(source).exists():
            raise CliError(f"no such file or folder: {source}")
    problems = Problems()
    meter = ByteProgress(total_bytes(discover_files(ns.sources)), "ingesting")
    try:
        prices = PriceBook(load_pricing(ns.pricing))
        done = ingest(read(ns.sources, problems, meter), open_ledger, prices, problems)
    finally:
        meter.close()
    if done.added + done.already + done.refused == 0:
        raise nothing_read([str(s) for s in ns.sources], problems)
    refused = f", {done.refused:,} refused by the ledger" if done.refused else ""
    print(f"Ingested {done.added:,} requests ({done.already:,} already in the ledger{refused}).")
    for line in problems.lines():
        print(line, file=sys.stderr)
    return EXIT_OK
