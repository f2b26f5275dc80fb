"""`racs analyze`: lint and plan PlanInput files; a CI gate for prompts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from racs.cli.app import EXIT_GATE, EXIT_OK, CliError
from racs.cli.files import load_pricing, read_json
from racs.core.errors import RacsError
from racs.core.model import (
    BreakpointDirective,
    CacheDirective,
    CachePlan,
    LintFinding,
    ResourceDirective,
    RoutingKeyDirective,
)
from racs.core.text import cell, percent
from racs.engine import create_racs
from racs.planning.inputs import parse_prompt

_EXAMPLES = """\
examples:
  racs analyze --input prompts.json
  racs analyze --input prompts.json --pricing pricing.json --format json

FILE holds one PlanInput or an array of them, in the camelCase wire format
(a prompts.json written for @takk/racs works unchanged). Exit 1 when any
error-severity finding exists, 2 when a file is missing or invalid.
"""


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `analyze` subcommand."""
    p = commands.add_parser(
        "analyze",
        help="lint and plan PlanInput files (exit 1 on error findings)",
        description="Print stable/total tokens, directives, findings and the break-even "
        "derivation of every PlanInput in FILE.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("--input", required=True, metavar="FILE", help="PlanInput or array (JSON)")
    p.add_argument("--pricing", metavar="FILE", help="pricing table (JSON): model -> prices")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.set_defaults(handler=run)


def load_inputs(path: str) -> list[Any]:
    """The PlanInputs of ``path``, each validated; CliError naming file, element, field."""
    raw = read_json(path, "input")
    is_array = isinstance(raw, list)
    items = raw if is_array else [raw]
    if is_array and not items:
        raise CliError(f"input file {path}: the array is empty; expected PlanInputs")
    for i, item in enumerate(items):
        try:
            parse_prompt(item)
        except RacsError as exc:
            where = f"element [{i}]: " if is_array else ""
            raise CliError(f"input file {path}: {where}{exc.message}") from None
    return items


def describe(directive: CacheDirective) -> str:
    """One directive as a line of prose."""
    if isinstance(directive, BreakpointDirective):
        return f"breakpoint after segment {directive.segment_id!r}, ttl {directive.ttl}"
    if isinstance(directive, RoutingKeyDirective):
        retention = f", retention {directive.retention}" if directive.retention else ""
        return f"routing key {directive.key}{retention}"
    if isinstance(directive, ResourceDirective):
        return (
            f"resource {directive.action} {directive.resource_key}, "
            f"ttl {cell(float(directive.ttl_seconds))}s"
        )
    return f"none: {directive.reason}"


def render_plan(index: int, count: int, item: Any, plan: CachePlan) -> str:
    """The text report of one plan."""
    name = item.get("agentId") if isinstance(item, dict) else None
    title = f"input {index + 1}/{count}: {plan.provider} {plan.model}"
    if name:
        title += f" (agent {name})"
    share = plan.stable_tokens / plan.total_tokens if plan.total_tokens else 0.0
    lines = [
        title,
        f"  family       {plan.family}",
        f"  prefix key   {plan.prefix_key}",
        f"  tokens       stable {cell(float(plan.stable_tokens))} / total "
        f"{cell(float(plan.total_tokens))} ({percent(share)} cacheable)",
        "  directives",
    ]
    lines.extend(f"    - {describe(d)}" for d in plan.directives)
    lines.append(f"  findings     {len(plan.findings) or 'none'}")
    be = plan.break_even
    if be is not None:
        lines.append("  break-even")
        lines.append(f"    write premium      {cell(float(be.write_premium_tokens))} tokens")
        lines.append(f"    min reuses         {cell(float(be.min_reuses_to_profit))}")
        lines.append(f"    profitable         {cell(be.profitable)}")
        lines.append(f"    derivation         {be.reasoning}")
    else:
        lines.append("  break-even   not applicable for this family or input")
    lines.append(f"  reasoning    {plan.reasoning}")
    # One line per finding in @takk/racs's format, which CI scripts grep.
    lines.extend(lint_line(f) for f in plan.findings)
    return "\n".join(lines)


def lint_line(finding: LintFinding) -> str:
    """``LINT <severity> <code> <segment> <message>``; ``-`` when no segment is named."""
    message = " ".join(finding.message.split())
    return f"LINT {finding.severity} {finding.code} {finding.segment_id or '-'} {message}"


def run(ns: argparse.Namespace) -> int:
    """Analyze every input of the file; exit 1 when any finding is an error."""
    items = load_inputs(ns.input)
    pricing = load_pricing(ns.pricing)
    # A fixed clock: analysis never depends on the time of day.
    engine = create_racs(pricing=pricing, clock=lambda: 0)
    plans = [engine.plan(item) for item in items]
    counts = {"error": 0, "warning": 0, "info": 0}
    # The reference's two summary counts: plans that tell the host to do something (a
    # breakpoint, a routing key, a resource action) and plans whose only directive is none.
    directed = sum(1 for p in plans if any(d.kind != "none" for d in p.directives))
    for plan in plans:
        for finding in plan.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
    if ns.format == "json":
        out = {
            "file": ns.input,
            "plans": [p.to_dict() for p in plans],
            "summary": {
                "inputs": len(plans),
                "errors": counts["error"],
                "warnings": counts["warning"],
                "infos": counts["info"],
                "plansWithDirectives": directed,
                "plansWithoutDirectives": len(plans) - directed,
            },
        }
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False) + "\n")
    else:
        pairs = enumerate(zip(items, plans, strict=True))
        blocks = [render_plan(i, len(plans), item, plan) for i, (item, plan) in pairs]
        sys.stdout.write("\n\n".join(blocks) + "\n\n")
        verdict = "FAIL" if counts["error"] else "ok"
        sys.stdout.write(
            "--- summary ---\n"
            f"inputs: {len(plans)}\n"
            f"errors: {counts['error']}\n"
            f"warnings: {counts['warning']}\n"
            f"infos: {counts['info']}\n"
            f"plans with directives: {directed}\n"
            f"plans without directives: {len(plans) - directed}\n"
            f"{verdict}: {len(plans)} input(s), {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} info\n"
        )
    return EXIT_GATE if counts["error"] else EXIT_OK
