"""`racs ledger`: read the run ledger (runs, one run, events, stats, verify, export)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

from racs.cli.app import EXIT_GATE, EXIT_OK, CliError, Parser
from racs.cli.files import load_pricing
from racs.cli.ledgers import open_ledger
from racs.core.text import cell, iso, percent, table, tokens, usd
from racs.ledger.filters import RunFilter
from racs.ledger.model import AUTH_TYPES, EXECUTION_MODES, RUN_STATUSES
from racs.ledger.payloads import iter_events


def _yes_no_flag(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true")


_RUN_FILTERS: Final = tuple(f.name for f in dataclasses.fields(RunFilter))
"""`racs ledger runs` takes a flag per run filter (the window's from ``window``)."""
_SHORT_FLAGS: Final = {"workspace_id": "workspace", "agent_id": "agent"}
_FLAG_FORMS: Final[dict[str, dict[str, Any]]] = {
    "status": {"choices": RUN_STATUSES},
    "auth_type": {"choices": AUTH_TYPES},
    "execution_mode": {"choices": EXECUTION_MODES},
    "auth_risk": {"type": _yes_no_flag, "metavar": "yes|no"},
}
"""How a filter's flag reads its value when it is not an id."""

PAGE: Final = 500
"""Events fetched per query while exporting or listing."""

_EXAMPLES: Final = {
    "runs": "examples:\n  racs ledger runs --workspace simulate --agent structured --limit 20\n"
    "  racs ledger runs --status failed --since 2026-01-01 --json",
    "show": "examples:\n  racs ledger show 01JD3ZK2Q8W7C9V4X1N5M6B2A0\n"
    "  racs ledger show 01JD3ZK2Q8W7C9V4X1N5M6B2A0 --json",
    "events": "examples:\n  racs ledger events --type cache.usage --limit 10\n"
    "  racs ledger events --run 01JD3ZK2Q8W7C9V4X1N5M6B2A0 --json",
    "stats": "examples:\n  racs ledger stats\n  racs ledger stats --workspace simulate "
    "--since 2026-01-01 --until 2026-12-31 --json",
    "verify": "examples:\n  racs ledger verify\n"
    "  racs ledger verify --ledger /srv/ledger.db --json\n"
    "  racs ledger verify --anchor anchors/2026-11-30.json --key-file ~/.racs/anchor.key\n\n"
    "exit 1 when the chain, the storage, a projection or an anchor does not match.",
    "anchor": "examples:\n  racs ledger anchor > anchors/$(date +%F).json\n"
    "  racs ledger anchor --key-file ~/.racs/anchor.key --output head.json\n\n"
    "keep the anchor where the ledger's host cannot change it; verify --anchor checks it.",
    "export": "examples:\n  racs ledger export > events.jsonl\n"
    "  racs ledger export --output events.jsonl --type run.completed",
}


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `ledger` subcommand and its actions."""
    p = commands.add_parser(
        "ledger",
        help="read the run ledger: runs, show, events, stats, verify, anchor, export",
        description="Read the run ledger (default RACS_LEDGER or ~/.racs/ledger.db, or "
        "--ledger PATH|URL): tables on a terminal, --json for machines.",
        epilog="examples:\n  racs ledger runs --workspace simulate\n  racs ledger stats\n"
        "  racs ledger verify\n  racs ledger export --output events.jsonl",
        formatter_class=formatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    p.set_defaults(handler=_no_action(p))

    def action(name: str, help_text: str) -> Parser:
        sub: Parser = actions.add_parser(
            name,
            help=help_text,
            description=help_text[:1].upper() + help_text[1:] + ".",
            epilog=_EXAMPLES[name],
            formatter_class=formatter,
        )
        sub.add_argument("--ledger", metavar="PATH|URL", help="ledger file or postgresql:// URL")
        sub.add_argument("--json", action="store_true", help="JSON output")
        return sub

    def window(sub: Parser) -> None:
        sub.add_argument(
            "--since",
            type=_instant,
            metavar="TIME",
            help="from this ISO date/datetime or epoch ms (inclusive)",
        )
        sub.add_argument(
            "--until",
            type=_instant,
            metavar="TIME",
            help="up to this ISO date/datetime or epoch ms (inclusive)",
        )

    runs = action("runs", "list runs, newest first, with filters")
    for name in _RUN_FILTERS:
        if name not in ("since", "until"):
            flag = "--" + _SHORT_FLAGS.get(name, name).replace("_", "-")
            runs.add_argument(flag, dest=name, **_FLAG_FORMS.get(name, {"metavar": "ID"}))
    window(runs)
    runs.add_argument("--limit", type=_limit, default=50, metavar="N", help="default 50")
    runs.set_defaults(handler=cmd_runs)

    show = action("show", "one run and its events")
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(handler=cmd_show)

    events = action("events", "list events in position order")
    events.add_argument("--run", metavar="RUN_ID")
    events.add_argument("--type", metavar="TYPE", help="e.g. run.completed, cache.usage")
    events.add_argument(
        "--after", type=_position, metavar="POSITION", help="only events after this position"
    )
    window(events)
    events.add_argument("--limit", type=_limit, default=50, metavar="N", help="default 50")
    events.set_defaults(handler=cmd_events)

    stats = action("stats", "usage statistics for a workspace and time window")
    stats.add_argument("--workspace", metavar="ID")
    stats.add_argument(
        "--pricing",
        metavar="FILE",
        help="pricing table (JSON) whose cards win over the bundled price database",
    )
    window(stats)
    stats.set_defaults(handler=cmd_stats)

    verify = action(
        "verify", "check the chain, storage, projections and anchors; report the first fault"
    )
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="FILE",
        help="an anchor the ledger must still extend (repeatable)",
    )
    verify.add_argument("--key-file", metavar="FILE", help="key the anchors' MACs must match")
    verify.set_defaults(handler=cmd_verify)

    anchor = action("anchor", "write the verified head (position, hash, time) as an anchor")
    anchor.add_argument("--key-file", metavar="FILE", help="authenticate it (HMAC-SHA256)")
    anchor.add_argument("--output", "-o", metavar="FILE", help="file to write (default stdout)")
    anchor.set_defaults(handler=cmd_anchor)

    export = action("export", "write events as JSON lines")
    export.add_argument("--output", "-o", metavar="FILE", help="file to write (default stdout)")
    export.add_argument("--run", metavar="RUN_ID")
    export.add_argument("--type", metavar="TYPE")
    window(export)
    export.set_defaults(handler=cmd_export)


def _no_action(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(ns: argparse.Namespace) -> int:
        p.error("choose an action: runs, show, events, stats, verify, anchor, export")

    return handler


def _instant(text: str) -> int | str:
    # Epoch milliseconds stay numbers; dates and datetimes are validated by the ledger.
    return int(text) if text.isdigit() else text


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 10000, got {text!r}")
    return int(text)


def _position(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a position (whole number), got {text!r}")
    return int(text)


def _dump(value: Any, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n")


def _runs_table(runs: Any) -> str:
    rows = [
        [
            r.run_id,
            iso(r.started_at),
            r.workspace_id,
            r.agent_id,
            r.provider,
            r.model,
            r.status,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            None if r.cost_usd is None else usd(r.cost_usd),
            r.latency_ms,
        ]
        for r in runs
    ]
    return table(
        [
            "run",
            "started",
            "workspace",
            "agent",
            "provider",
            "model",
            "status",
            "input",
            "output",
            "cache read",
            "cost",
            "latency ms",
        ],
        rows,
    )


def cmd_runs(ns: argparse.Namespace) -> int:
    """`racs ledger runs`."""
    with _ledger(ns) as ledger:
        page = ledger.query_runs(
            **{name: getattr(ns, name) for name in _RUN_FILTERS}, limit=ns.limit
        )
    items = list(page.items)
    if ns.json:
        _dump({"runs": [r.to_dict() for r in items], "nextCursor": page.next_cursor})
        return EXIT_OK
    if not items:
        sys.stdout.write("no runs match\n")
        return EXIT_OK
    sys.stdout.write(_runs_table(items) + "\n")
    more = " (more: raise --limit)" if page.next_cursor else ""
    sys.stdout.write(f"{len(items)} run(s){more}\n")
    return EXIT_OK


def _events_table(events: Any) -> str:
    rows = [
        [e.position, iso(e.timestamp), e.run_id, e.seq, e.type, _brief(e.payload)] for e in events
    ]
    return table(["position", "at", "run", "seq", "type", "payload"], rows)


def _brief(payload: Any, width: int = 60) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_show(ns: argparse.Namespace) -> int:
    """`racs ledger show RUN_ID`."""
    with _ledger(ns) as ledger:
        run = ledger.get_run(ns.run_id)
        if run is None:
            raise CliError(f"ledger: no run {ns.run_id!r}")
        events = ledger.get_run_events(ns.run_id)
    if ns.json:
        _dump({"run": run.to_dict(), "events": [e.to_dict() for e in events]})
        return EXIT_OK
    fields = run.to_dict()
    width = max(len(k) for k in fields)
    for key, value in fields.items():
        shown = json.dumps(value, sort_keys=True) if isinstance(value, dict) else cell(value)
        if key in ("started_at", "ended_at") and isinstance(value, int):
            shown = f"{iso(value)} ({value})"
        sys.stdout.write(f"{key.ljust(width)}  {shown}\n")
    sys.stdout.write("\nevents\n" + _events_table(events) + "\n")
    return EXIT_OK


def cmd_events(ns: argparse.Namespace) -> int:
    """`racs ledger events`."""
    with _ledger(ns) as ledger:
        events = list(
            _query_events(ledger, ns.type, ns.run, ns.after, ns.since, ns.until, ns.limit)
        )
    if ns.json:
        _dump({"events": [e.to_dict() for e in events]})
    elif events:
        sys.stdout.write(_events_table(events) + "\n")
    else:
        sys.stdout.write("no events match\n")
    return EXIT_OK


def _query_events(
    ledger: Any,
    type_: str | None,
    run_id: str | None,
    after: int | None,
    since: Any,
    until: Any,
    limit: int | None,
) -> Iterator[Any]:
    """Events in position order, paging through the ledger (all of them without a limit)."""
    return iter_events(
        ledger,
        type=type_,
        run_id=run_id,
        after_position=after,
        since=since,
        until=until,
        limit=limit,
        page=PAGE,
    )


def cmd_stats(ns: argparse.Namespace) -> int:
    """`racs ledger stats`."""
    pricing = load_pricing(ns.pricing)
    with _ledger(ns) as ledger:
        stats = ledger.get_usage_stats(ns.workspace, ns.since, ns.until, pricing=pricing)
    if ns.json:
        _dump(stats.to_dict())
        return EXIT_OK
    s = stats
    by = s.runs_by_status
    scope = f"workspace {s.workspace_id}" if s.workspace_id else "all workspaces"
    window = f"{iso(s.since) if s.since else 'start'} .. {iso(s.until) if s.until else 'now'}"
    lines = [
        f"ledger usage: {scope}, {window}",
        f"runs            {s.runs} (completed {by.completed}, failed {by.failed}, "
        f"cancelled {by.cancelled}, started {by.started})",
        f"tokens          input {tokens(s.input_tokens)}, output {tokens(s.output_tokens)}, "
        f"total {tokens(s.total_tokens)}",
        f"cost            {usd(s.cost_usd)}",
        f"auth risk runs  {s.auth_risk_runs}; policy overrides {s.policy_override_runs}",
        f"latency ms      p50 {cell(s.latency_ms.p50)}, p95 {cell(s.latency_ms.p95)}; "
        f"ttft ms p50 {cell(s.ttft_ms.p50)}, p95 {cell(s.ttft_ms.p95)}",
        f"cache           read {tokens(s.cache_read_tokens)}, write 5m "
        f"{tokens(s.cache_write_tokens_5m)}, write 30m {tokens(s.cache_write_tokens_30m)}, "
        f"write 1h {tokens(s.cache_write_tokens_1h)}, "
        f"uncached {tokens(s.uncached_tokens)}, hit ratio {percent(s.cache_hit_ratio)}",
        f"cache USD       saved {usd(s.saved_usd)}, writes {usd(s.cache_write_usd)}, "
        f"net {usd(s.net_usd)}",
    ]
    if s.unpriced_models:
        lines.append(
            f"unpriced        {', '.join(s.unpriced_models)} (tokens only: pass --pricing)"
        )
    for title, rows in (("by provider", s.by_provider), ("by model", s.by_model)):
        if rows:
            lines.append("")
            lines.append(title)
            lines.append(
                table(
                    [
                        "provider",
                        "model",
                        "runs",
                        "input",
                        "output",
                        "cost",
                        "cache read",
                        "hit ratio",
                        "cache net",
                    ],
                    [
                        [
                            b.provider,
                            b.model,
                            b.runs,
                            b.input_tokens,
                            b.output_tokens,
                            usd(b.cost_usd),
                            b.cache_read_tokens,
                            percent(b.cache_hit_ratio),
                            usd(b.net_usd),
                        ]
                        for b in rows
                    ],
                    indent="  ",
                )
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _key(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        key = Path(path).expanduser().read_bytes().strip()
    except OSError as exc:
        raise CliError(f"key file {path}: cannot read ({exc.strerror})") from None
    if not key:
        raise CliError(f"key file {path}: empty")
    return key


def _anchors(paths: list[str], key: bytes | None) -> list[Any]:
    from racs.ledger import parse_anchor

    anchors = []
    for path in paths:
        try:
            text = Path(path).expanduser().read_bytes()
        except OSError as exc:
            raise CliError(f"anchor file {path}: cannot read ({exc.strerror})") from None
        anchors.append(parse_anchor(text, key, name=f"anchor file {path}"))
    return anchors


def cmd_verify(ns: argparse.Namespace) -> int:
    """`racs ledger verify`: exit 1 when any evidence does not match."""
    anchors = _anchors(ns.anchor, _key(ns.key_file))
    with _ledger(ns) as ledger:
        result = ledger.verify(anchors)
    if ns.json:
        _dump(result.to_dict())
    elif result.ok:
        extends = f", extends {len(anchors)} anchor(s)" if anchors else ""
        waiting = f", {result.pending} pending (durable, not yet chained)" if result.pending else ""
        sys.stdout.write(
            f"ok: {result.checked} event(s) verified, head {result.head_hash}{extends}{waiting}\n"
        )
    else:
        sys.stdout.write(
            f"BROKEN: first bad position {result.first_bad_position}: {result.reason} "
            f"({result.checked} event(s) checked)\n"
        )
    return EXIT_OK if result.ok else EXIT_GATE


def cmd_anchor(ns: argparse.Namespace) -> int:
    """`racs ledger anchor`: the verified head as a JSON anchor document."""
    key = _key(ns.key_file)
    with _ledger(ns) as ledger:
        text = ledger.anchor(key).to_json()
    if ns.output is None:
        sys.stdout.write(text)
    else:
        path = Path(ns.output).expanduser()
        path.write_text(text, encoding="utf-8")
        sys.stderr.write(f"racs: anchor written to {path}\n")
    return EXIT_OK


def cmd_export(ns: argparse.Namespace) -> int:
    """`racs ledger export`: every matching event as one JSON line."""
    with _ledger(ns) as ledger:
        if ns.output is None:
            count = _export(ledger, ns, sys.stdout)
        else:
            path = Path(ns.output).expanduser()
            with path.open("w", encoding="utf-8") as handle:
                count = _export(ledger, ns, handle)
            sys.stderr.write(f"racs: exported {count} event(s) to {path}\n")
    return EXIT_OK


def _export(ledger: Any, ns: argparse.Namespace, out: TextIO) -> int:
    count = 0
    for event in _query_events(ledger, ns.type, ns.run, None, ns.since, ns.until, None):
        out.write(json.dumps(event.to_dict(), sort_keys=True, separators=(",", ":")) + "\n")
        count += 1
    return count


class _ledger:
    """Open the ledger of ``--ledger`` (or the default) for the duration of a command."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.target: str | None = ns.ledger

    def __enter__(self) -> Any:
        self.ledger = open_ledger(self.target, must_exist=True)
        return self.ledger

    def __exit__(self, *exc: object) -> None:
        self.ledger.close()
