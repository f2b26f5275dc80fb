"""`racs inspect`: render a saved engine snapshot (file backend) as tables."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racs.cli.app import EXIT_OK, CliError
from racs.cli.files import load_pricing
from racs.core.text import duration, iso, percent, table, tokens, usd
from racs.engine import create_racs
from racs.state import file_state

_EXAMPLES = """\
examples:
  racs inspect --state ~/.racs/state.json
  racs inspect --state state.json --watch --interval 5
  racs inspect --state takk-state.json --pricing pricing.json

--watch re-renders every --interval seconds until Ctrl-C. A snapshot written by
@takk/racs reads unchanged; --pricing (model -> prices, as for analyze) prices
its token counts. A missing file prints "no state found at PATH" and exits 0.
"""


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {text}")
    return value


def register(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add the `inspect` subcommand."""
    p = commands.add_parser(
        "inspect",
        help="render a saved engine snapshot as tables",
        description="Show usage per prefix, keep-warm entries with time to refresh, live "
        "resources and the latest drift reports of a snapshot saved by the file backend.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    p.add_argument("--state", required=True, metavar="PATH", help="snapshot file")
    p.add_argument(
        "--pricing", metavar="FILE", help="pricing table (JSON) to price the snapshot's tokens"
    )
    p.add_argument("--watch", action="store_true", help="re-render until Ctrl-C")
    p.add_argument(
        "--interval",
        type=_interval,
        default=2.0,
        metavar="SEC",
        help="seconds between renders with --watch (default 2)",
    )
    p.add_argument(
        "--drifts",
        type=int,
        default=10,
        metavar="N",
        help="how many recent drift reports to show (default 10)",
    )
    p.set_defaults(handler=run)


def render(
    path: str, now_ms: float, drift_limit: int = 10, pricing: dict[str, Any] | None = None
) -> str:
    """The snapshot at ``path`` as text tables, times relative to ``now_ms``."""
    backend = file_state(path)
    snapshot = backend.load()
    if snapshot is None:
        if not Path(path).expanduser().exists():
            return f"no state found at {path}\n"  # as @takk/racs: nothing saved yet, exit 0
        raise CliError(f"state file {path}: not a racs snapshot (not a JSON object)")
    # The engine validates the version and degrades corrupt sections; it is never
    # closed, because closing would save a snapshot over the file being inspected.
    engine = create_racs(state=_ReadOnly(snapshot), clock=lambda: now_ms, pricing=pricing)
    data = engine.snapshot()["data"]
    stats = engine.stats()
    out = [
        f"snapshot {path}",
        f"saved at {iso(snapshot.get('savedAt'))}, {data['planCounter']} plans created",
        "",
        f"usage: {stats.calls} calls, hit ratio {percent(stats.hit_ratio)}, "
        f"net {usd(stats.net_usd)}",
    ]
    if stats.prefixes:
        rows = [
            [
                p.prefix_key,
                p.provider,
                p.model,
                p.calls,
                p.hits,
                percent(p.hit_ratio),
                tokens(p.read_tokens),
                tokens(p.write_tokens),
                tokens(p.uncached_tokens),
                usd(p.net_usd),
            ]
            for p in stats.prefixes
        ]
        out.append(
            table(
                [
                    "prefix",
                    "provider",
                    "model",
                    "calls",
                    "hits",
                    "hit ratio",
                    "read",
                    "write",
                    "uncached",
                    "net USD",
                ],
                rows,
                indent="  ",
            )
        )
    else:
        out.append("  no usage recorded")
    out.append("")
    out.append("keep-warm")
    warm = data["keepWarm"]
    if warm:
        rows = []
        for e in sorted(warm, key=lambda e: e["lastWriteAt"] + 0.9 * e["ttlSeconds"] * 1000):
            refresh_at = e["lastWriteAt"] + 0.9 * e["ttlSeconds"] * 1000
            expires_at = e["lastWriteAt"] + e["ttlSeconds"] * 1000
            if now_ms >= expires_at:
                when = "expired"
            elif now_ms >= refresh_at:
                when = f"due ({duration((now_ms - refresh_at) / 1000)} overdue)"
            else:
                when = f"in {duration((refresh_at - now_ms) / 1000)}"
            ttl = e["ttl"] if isinstance(e["ttl"], str) else f"{e['ttl']:g}s"
            rows.append(
                [
                    e["prefixKey"],
                    e["provider"],
                    e["model"],
                    ttl,
                    iso(e["lastWriteAt"]),
                    iso(refresh_at),
                    when,
                ]
            )
        out.append(
            table(
                ["prefix", "provider", "model", "ttl", "last write", "refresh at", "refresh"],
                rows,
                indent="  ",
            )
        )
    else:
        out.append("  no keep-warm entries")
    out.append("")
    out.append("resources")
    resources = data["resources"]
    if resources:
        rows = []
        for r in resources:
            expires_at = r["lastWriteAt"] + r["ttlSeconds"] * 1000
            state = (
                "expired"
                if now_ms >= expires_at
                else (f"live, expires in {duration((expires_at - now_ms) / 1000)}")
            )
            rows.append(
                [
                    r["resourceKey"],
                    r["provider"],
                    r["model"],
                    tokens(r["tokens"]),
                    f"{r['ttlSeconds']:g}s",
                    iso(r["lastWriteAt"]),
                    state,
                ]
            )
        out.append(
            table(
                ["resource", "provider", "model", "tokens", "ttl", "last write", "state"],
                rows,
                indent="  ",
            )
        )
    else:
        out.append("  no live resources")
    out.append("")
    drifts = engine.drifts(max(0, drift_limit))
    out.append(f"recent drift ({len(data['drifts'])} reports kept)")
    if drifts:
        rows = [
            [
                iso(d.timestamp),
                d.lineage or d.agent_id,
                d.previous_key,
                d.prefix_key,
                ", ".join(d.changed_segment_ids),
                tokens(d.invalidated_tokens),
            ]
            for d in reversed(drifts)
        ]
        out.append(
            table(["at", "lineage", "previous", "now", "changed", "invalidated"], rows, indent="  ")
        )
    else:
        out.append("  no drift detected")
    return "\n".join(out) + "\n"


class _ReadOnly:
    """A state backend that hands the engine one snapshot and never writes."""

    is_async = False

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def load(self) -> dict[str, Any] | None:
        """The snapshot read from the file."""
        return self.snapshot

    def save(self, snapshot: dict[str, Any]) -> None:
        """Inspecting never writes."""

    async def aload(self) -> dict[str, Any] | None:
        """The snapshot read from the file."""
        return self.snapshot

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """Inspecting never writes."""


def run(ns: argparse.Namespace) -> int:
    """Render once, or every --interval seconds with --watch until Ctrl-C."""
    pricing = load_pricing(ns.pricing)
    if not ns.watch:
        sys.stdout.write(render(ns.state, time.time() * 1000, ns.drifts, pricing))
        return EXIT_OK
    clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else ""
    try:
        while True:
            sys.stdout.write(clear + render(ns.state, time.time() * 1000, ns.drifts, pricing))
            if not clear:
                sys.stdout.write("\n")
            sys.stdout.flush()
            time.sleep(ns.interval)
    except KeyboardInterrupt:
        return EXIT_OK
