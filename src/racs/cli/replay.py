"""`racs replay`: what the traffic would have cost under other cache strategies."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.cli.files import load_pricing, nothing_read, traffic_sources, write_atomically
from racs.cli.render import ByteProgress
from racs.core.cache import SETTINGS
from racs.core.errors import RacsError
from racs.core.prices import PriceBook
from racs.core.text import iso, table, usd
from racs.replay.html import render_html
from racs.replay.run import OPTIMUM, Replay, replay
from racs.replay.strategies import DEFAULT_STRATEGIES
from racs.replay.wire import to_json
from racs.traffic.lines import total_bytes
from racs.traffic.problems import Problems
from racs.traffic.sources import discover_files, read

_EXAMPLES = """\
examples:
  racs replay ~/.claude/projects
  racs replay session.jsonl --strategy 5m --strategy racs@300 --requests
  racs replay ~/.claude/projects --json > replay.json
  racs replay ~/.claude/projects --html replay.html

Every figure is a range: the neutral reading of the providers' documentation and a
pessimistic one (entries evicted 20% early, 5% of requests missing the cache). The
optimum is the cheapest decision per request knowing the whole future; "captured" is
(no cache - strategy) / (no cache - optimum). Calibration replays the recorded choices
and must reproduce the recorded reads and writes; every request it cannot explain is
named as an anomaly and given to every strategy alike.
"""


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `replay` subcommand."""
    p = commands.add_parser(
        "replay",
        help="what-if cache strategies and the hindsight optimum over recorded traffic",
        description="Replay recorded traffic through a model of each provider's cache "
        "under several strategies and the hindsight optimum, after checking that the "
        "model reproduces what was billed.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("paths", nargs="*", metavar="SOURCE", help="files, folders or a ledger")
    p.add_argument(
        "--strategy",
        action="append",
        metavar="NAME",
        help=f"strategy to price (repeatable; default: {', '.join(DEFAULT_STRATEGIES)}; "
        "racs@SECONDS declares a reuse interval to the planner)",
    )
    p.add_argument(
        "--setting",
        choices=[*SETTINGS, "both"],
        default="both",
        help="neutral, pessimistic or both (default both: every figure a range)",
    )
    p.add_argument("--no-keep-warm", action="store_true", help="optimum without touches")
    p.add_argument("--pricing", metavar="FILE", help="pricing table (JSON): model -> prices")
    p.add_argument("--requests", action="store_true", help="every request's choices and costs")
    p.add_argument("--json", action="store_true", help="print JSON (schema racs.replay/1)")
    p.add_argument("--html", metavar="FILE", help="also write the cumulative-cost page")
    p.set_defaults(handler=run)


def run(ns: argparse.Namespace) -> int:
    """Read, replay, print (and write the page)."""
    sources = traffic_sources(ns.paths, None)
    prices = PriceBook(load_pricing(ns.pricing))
    strategies = tuple(ns.strategy or DEFAULT_STRATEGIES)
    settings = tuple(SETTINGS) if ns.setting == "both" else (ns.setting,)
    if "neutral" not in settings and (ns.html or ns.requests):
        raise CliError("--html and --requests show the neutral setting; add --setting neutral")
    problems = Problems()
    meter = ByteProgress(total_bytes(discover_files(sources)), "reading")
    try:
        result = replay(
            read(sources, problems, meter),
            strategies=strategies,
            prices=prices,
            settings=settings,
            keep_warm=not ns.no_keep_warm,
            detail=bool(ns.html or ns.requests),
            problems=problems,
        )
    except RacsError as exc:
        raise CliError(str(exc)) from None
    finally:
        meter.close()
    if result.requests == 0:
        raise nothing_read(sources, problems)
    if ns.html:
        write_atomically(Path(ns.html), render_html(result))
    if ns.json:
        doc = to_json(result, requests=ns.requests)
        doc["problems"] = problems.to_dict()
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(render(result, requests=ns.requests, problems=problems))
        if ns.html:
            sys.stdout.write(f"\nWrote {ns.html}\n")
    return EXIT_OK


def _range(result: Replay, name: str, fmt: Callable[[float], str]) -> str:
    values = [result.totals[s][name].total for s in result.settings]
    return " .. ".join(fmt(v) for v in values)


def _share(result: Replay, name: str) -> str:
    shares = [result.captured(name, s) for s in result.settings]
    return " .. ".join("-" if v is None else f"{v * 100:.1f}%" for v in shares)


def render(result: Replay, *, requests: bool = False, problems: Problems | None = None) -> str:
    """The text report (what could not be read or replayed named at the end)."""
    out = [
        f"racs replay: {result.requests} requests in {result.stream_count} streams; "
        f"billed {usd(result.billed.total)}; settings: {' .. '.join(result.settings)}",
    ]
    cal = result.calibration
    anomalies = ", ".join(f"{k} {v}" for k, v in sorted(cal.anomalies.items())) or "none"
    out.append(
        f"calibration: {cal.exact}/{cal.requests} requests exact; named anomalies: "
        f"{anomalies}; error tokens outside anomalies: {cal.error_tokens}"
    )
    if problems:
        out.append(f"skipped: {problems.total:,} (named at the end)")
    if result.unpriced:
        out.append(f"unpriced (counted at $0): {', '.join(result.unpriced)}")
    out.append("")
    rows = []
    for name in (*result.strategies, OPTIMUM):
        gap = [
            result.totals[s][name].total - result.totals[s][OPTIMUM].total for s in result.settings
        ]
        rows.append(
            [
                name,
                _range(result, name, usd),
                _share(result, name),
                " .. ".join(usd(g) for g in gap),
            ]
        )
    out.append(table(["strategy", "cost", "captured", "gap to optimum"], rows))
    out.append("")
    stream_rows = []
    for s in result.streams:
        neutral = s.costs.get("neutral") or next(iter(s.costs.values()))
        stream_rows.append(
            [
                s.key if len(s.key) <= 60 else s.key[:57] + "...",
                s.requests,
                usd(s.billed.total),
                *(usd(neutral[n].total) for n in (*result.strategies, OPTIMUM)),
                ", ".join(f"{k} {v}" for k, v in sorted(s.calibration.anomalies.items())) or "-",
            ]
        )
    out.append(
        table(
            ["stream", "requests", "billed", *result.strategies, OPTIMUM, "anomalies"],
            stream_rows,
        )
    )
    if requests:
        out.append("")
        out.append(_requests_table(result))
    if problems:
        out.append("")
        out.extend(problems.lines())
    return "\n".join(out) + "\n"


def _requests_table(result: Replay) -> str:
    names = [n for n in (*result.strategies, OPTIMUM) if n != "none"]
    rows = []
    for s in result.streams:
        for i, step in enumerate(s.steps):
            cells: list[Any] = [iso(step.t_ms), s.key[:24], step.prefix]
            for name in names:
                o = s.detail[name][i]
                tier = o.decision.tier or "-"
                warm = f"+warm{o.decision.keep_warm_s:g}s" if o.decision.keep_warm_s else ""
                cells.append(f"{tier}{warm} {usd(o.cost.total)}")
            cells.append(step.anomaly or "")
            rows.append(cells)
    return table(["time", "stream", "prefix", *names, "anomaly"], rows)
