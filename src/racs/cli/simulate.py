"""`racs simulate`: the deterministic structured-versus-naive demonstration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.cli.ledgers import demo_ledger_path, open_ledger
from racs.cli.render import WIDTH_HELP, Progress, width_of
from racs.core.accounting import hit_ratio
from racs.core.facts import PROVIDERS
from racs.core.text import fit_lines, percent, table, tokens, usd
from racs.simulate.simulation import (
    DEMO_PRICING_NOTE,
    DEMO_PROVIDERS,
    MAX_CALLS,
    CallRecord,
    ProviderResult,
    Simulation,
    run_simulation,
)

_EXAMPLES = """\
examples:
  racs simulate
  racs simulate --calls 400 --interval 60 --provider anthropic
  racs simulate --calls 50 --seed 42 --ledger /tmp/demo-ledger.db

Output is byte-identical for identical flags and width. Progress goes to stderr
(a bar on a terminal, plain lines otherwise). Lines fit the terminal (120 columns
when stdout is not one; COLUMNS wins): the lint messages wrap, the summary table
drops uncached, write, read, hits and calls in that order, long lines wrap;
--wide prints everything. Every simulated call is written to a run
ledger as a completed run (workspace "simulate", agent "structured" or "naive")
plus its cache usage. Without --ledger that is the demo ledger
~/.racs/demo-ledger.db, replaced on every run and never your own ledger; stderr
says where the runs went ('racs ledger stats --ledger PATH' shows them).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_CALLS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_CALLS}, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `simulate` subcommand."""
    p = commands.add_parser(
        "simulate",
        help="deterministic structured-versus-naive prompt-cache demonstration",
        description="Run a well-structured prompt and a naive one (timestamp in the system "
        "prompt, live turn before the tools) against a simulated provider cache of every "
        "adapter family, and compare hit ratio, net savings and USD.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument(
        "--calls",
        type=_positive_int,
        default=200,
        metavar="N",
        help=f"calls per prompt (default 200, at most {MAX_CALLS})",
    )
    p.add_argument("--seed", type=_seed, default=7, metavar="S", help="seed (default 7)")
    p.add_argument(
        "--interval",
        type=_positive_seconds,
        default=60.0,
        metavar="SEC",
        help="simulated seconds between calls (default 60)",
    )
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        metavar="P",
        help=f"any of the {len(PROVIDERS)} providers (default: {', '.join(DEMO_PROVIDERS)}, "
        "one per family)",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--ledger",
        metavar="PATH|URL",
        help="run ledger to write (default: the demo ledger ~/.racs/demo-ledger.db, "
        "replaced on every run)",
    )
    target.add_argument("--no-ledger", action="store_true", help="do not write to a ledger")
    p.add_argument("--wide", action="store_true", help=WIDTH_HELP)
    p.set_defaults(handler=run)


class _LedgerSink:
    """Writes each simulated call to the ledger as one completed run."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.runs = 0

    def __call__(self, rec: CallRecord) -> None:
        self.runs += 1
        u = rec.usage
        run_id = self.ledger.start_run(
            workspace_id="simulate",
            agent_id=rec.variant,
            provider=rec.provider,
            model=rec.model,
            auth_type="api",
            execution_mode="background",
            compliance_mode="recommended",
            prefix_key=rec.plan.prefix_key,
            plan_id=rec.plan.plan_id,
            metadata={"simulation": True, "call": rec.call + 1, "simulatedAt": rec.timestamp},
        )
        self.ledger.complete_run(
            run_id,
            status="completed",
            input_tokens=int(u.input_tokens),
            output_tokens=rec.output_tokens,
            total_tokens=int(u.input_tokens) + rec.output_tokens,
            cost_usd=rec.cost_usd,
            latency_ms=rec.latency_ms,
            ttft_ms=rec.ttft_ms,
            cache_read_tokens=int(u.cache_read_tokens),
            cache_write_tokens_5m=int(u.cache_write_tokens_5m),
            cache_write_tokens_30m=int(u.cache_write_tokens_30m),
            cache_write_tokens_1h=int(u.cache_write_tokens_1h),
        )


def _provider_section(r: ProviderResult, width: int | None) -> str:
    d = r.demo
    lines = [f"== {d.provider} ({d.family} family, model {d.model}) =="]
    lines.append(f"structured directives: {'; '.join(r.structured_directives)}")
    lines.append(f"naive directives:      {'; '.join(r.naive_directives)}")
    lines.append("naive prompt lint findings:")
    if r.naive_findings:
        rows = [[f.severity, f.code, f.segment_id, f.message] for f in r.naive_findings]
        headers = ["severity", "code", "segment", "message"]
        lines.append(table(headers, rows, "  ", width=width, fit=[("message", -1)]))
    else:
        lines.append("  none")
    s_codes = ", ".join(f.code for f in r.structured_findings) or "none"
    lines.append(f"structured prompt lint findings: {s_codes}")
    lines.append(f"naive prompt drift reports: {r.drift_count}")
    ex = r.drift_example
    if ex is not None:
        lines.append(
            f"  latest: segments {', '.join(ex.changed_segment_ids)} changed, "
            f"{tokens(ex.invalidated_tokens)} cached tokens invalidated "
            f"({ex.previous_key} -> {ex.prefix_key})"
        )
    return "\n".join(lines)


def render(sim: Simulation, width: int | None = None) -> str:
    """The whole report: settings, per-provider findings and drift, the summary table;
    every line at most ``width`` wide (``None``: as wide as it takes)."""
    out = [
        f"racs simulate: {sim.calls} calls per prompt, one every {sim.interval_seconds:g}s "
        f"(simulated clock), seed {sim.seed}",
        "structured: tools, system, documents (stable), history (semi), live turn last",
        "naive:      timestamp in the system prompt, live turn before the tools",
        DEMO_PRICING_NOTE,
        "",
    ]
    for r in sim.results:
        out.append(_provider_section(r, width))
        out.append("")
    rows = []
    for r in sim.results:
        for v in (r.structured, r.naive):
            rows.append(
                [
                    r.demo.provider,
                    v.variant,
                    v.calls,
                    v.hits,
                    percent(v.hit_ratio),
                    tokens(v.read_tokens),
                    tokens(v.write_tokens),
                    tokens(v.uncached_tokens),
                    usd(v.input_spend_usd),
                    usd(v.net_usd),
                ]
            )
    out.append("summary")
    headers = [
        "provider",
        "prompt",
        "calls",
        "hits",
        "hit ratio",
        "read",
        "write",
        "uncached",
        "input USD",
        "net USD",
    ]
    fit = [(name, 0) for name in ("uncached", "write", "read", "hits", "calls")]
    out.append(table(headers, rows, "  ", width=width, fit=fit))
    out.append("")
    for r in sim.results:
        diff = r.usd_difference
        share = diff / r.naive.input_spend_usd if r.naive.input_spend_usd else 0.0
        out.append(
            f"{r.demo.provider}: structured {r.structured.hits}/{r.structured.calls} hits, "
            f"naive {r.naive.hits}/{r.naive.calls}; the structured prompt's input costs "
            f"{usd(diff)} less ({percent(share)}), net savings {usd(r.structured.net_usd)} "
            f"vs {usd(r.naive.net_usd)}"
        )
    out.append("")
    out.extend(summary_lines(sim))
    return fit_lines("\n".join(out), width) + "\n"


def summary_lines(sim: Simulation) -> list[str]:
    """The closing lines scripts written for @takk/racs parse, over every provider run."""
    lines = []
    for name in ("structured", "naive"):
        variants = [getattr(r, name) for r in sim.results]
        read = sum(v.read_tokens for v in variants)
        writes = sum(v.write_tokens for v in variants)
        uncached = sum(v.uncached_tokens for v in variants)
        net = sum(v.net_usd for v in variants)
        lines.append(
            f"{name}: hit ratio {percent(hit_ratio(read, writes, uncached))}, "
            f"net savings {usd(net)}"
        )
    diff = sum(r.usd_difference for r in sim.results)
    lines.append(f"difference: {usd(diff)} less input spend with the structured prompt")
    return lines


def _fresh_demo_ledger() -> str:
    """The demo ledger path, emptied: it holds the latest demonstration only."""
    path = demo_ledger_path()
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return str(path)


def run(ns: argparse.Namespace) -> int:
    """Simulate, write runs and usage to the ledger, print the report."""
    providers = [ns.provider] if ns.provider else None
    target = None if ns.no_ledger else (ns.ledger or _fresh_demo_ledger())
    ledger = None if target is None else open_ledger(target)
    sink = None if ledger is None else _LedgerSink(ledger)
    try:
        sim = run_simulation(
            calls=ns.calls,
            seed=ns.seed,
            interval_seconds=ns.interval,
            providers=providers,
            ledger=ledger,
            progress=Progress(sys.stderr),
            sink=sink,
        )
    finally:
        if ledger is not None:
            ledger.close()
    if not sim.results:
        raise CliError("nothing simulated")
    sys.stdout.write(render(sim, width_of(ns)))
    if sink is not None:  # stderr: stdout stays byte-identical whatever the ledger
        sys.stderr.write(
            f"racs simulate: wrote {sink.runs} runs to {target} "
            f"(racs ledger stats --ledger {target})\n"
        )
    return EXIT_OK
