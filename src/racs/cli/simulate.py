"""`racs simulate`: the deterministic structured-versus-naive demonstration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..simulate import (
    DEMO_PRICING_NOTE,
    DEMO_PROVIDERS,
    CallRecord,
    ProviderResult,
    Simulation,
    run_simulation,
)
from .app import EXIT_OK, CliError
from .ledgers import open_ledger
from .render import Progress, percent, table, tokens, usd

_EXAMPLES = """\
examples:
  racs simulate
  racs simulate --calls 400 --interval 60 --provider anthropic
  racs simulate --calls 50 --seed 42 --ledger /tmp/demo-ledger.db

Output is byte-identical for identical flags. Progress goes to stderr (a bar on
a terminal, plain lines otherwise). Every simulated call is written to the run
ledger as a completed run (workspace "simulate", agent "structured" or "naive")
plus its cache usage, so 'racs ledger stats' shows them afterwards.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
        help="calls per prompt (default 200)",
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
        choices=tuple(DEMO_PROVIDERS),
        metavar="P",
        help=f"one of {', '.join(DEMO_PROVIDERS)} (default: all four families)",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--ledger",
        metavar="PATH|URL",
        help="run ledger to write (default: RACS_LEDGER or ~/.racs/ledger.db)",
    )
    target.add_argument("--no-ledger", action="store_true", help="do not write to a ledger")
    p.set_defaults(handler=run)


class _LedgerSink:
    """Writes each simulated call to the ledger as one completed run."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def __call__(self, rec: CallRecord) -> None:
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


def _provider_section(r: ProviderResult) -> str:
    d = r.demo
    lines = [f"== {d.provider} ({d.family} family, model {d.model}) =="]
    lines.append(f"structured directives: {'; '.join(r.structured_directives)}")
    lines.append(f"naive directives:      {'; '.join(r.naive_directives)}")
    lines.append("naive prompt lint findings:")
    if r.naive_findings:
        rows = [[f.severity, f.code, f.segment_id, f.message] for f in r.naive_findings]
        lines.append(table(["severity", "code", "segment", "message"], rows, indent="  "))
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


def render(sim: Simulation) -> str:
    """The whole report: settings, per-provider findings and drift, the summary table."""
    out = [
        f"racs simulate: {sim.calls} calls per prompt, one every {sim.interval_seconds:g}s "
        f"(simulated clock), seed {sim.seed}",
        "structured: tools, system, documents (stable), history (semi), live turn last",
        "naive:      timestamp in the system prompt, live turn before the tools",
        DEMO_PRICING_NOTE,
        "",
    ]
    for r in sim.results:
        out.append(_provider_section(r))
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
    out.append(table(headers, rows, indent="  "))
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
    return "\n".join(out) + "\n"


def run(ns: argparse.Namespace) -> int:
    """Simulate, write runs and usage to the ledger, print the report."""
    providers = [ns.provider] if ns.provider else None
    ledger = None if ns.no_ledger else open_ledger(ns.ledger)
    try:
        sim = run_simulation(
            calls=ns.calls,
            seed=ns.seed,
            interval_seconds=ns.interval,
            providers=providers,
            ledger=ledger,
            progress=Progress(sys.stderr),
            sink=None if ledger is None else _LedgerSink(ledger),
        )
    finally:
        if ledger is not None:
            ledger.close()
    if not sim.results:
        raise CliError("nothing simulated")
    sys.stdout.write(render(sim))
    return EXIT_OK
