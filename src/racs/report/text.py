"""The report as terminal tables, each fitted to a width.

A table wider than the width narrows in this order until it fits (``FIT``): the name
column (session, project, ...) is abbreviated to 36 characters, then the columns
efficiency, fresh, write 30m and output are dropped, the name shrinks to 20 characters,
then requests, write 5m, write 1h, read and hit go. Prose lines wrap.
"""

from __future__ import annotations

from typing import Final

from racs.core.text import Fit, duration, fit_lines, percent, table, tokens, usd
from racs.report.buckets import Bucket
from racs.report.build import Report
from racs.report.findings import CAUSES
from racs.report.periods import clock, zone_name
from racs.report.walk import GAP_EDGES_S
from racs.report.wire import ranked

_TITLES = {
    "model": "By model",
    "project": "By project",
    "session": "By session",
    "stream": "By stream",
    "agent": "By agent",
    "day": "By day",
    "week": "By week (from Monday)",
    "month": "By month",
}
KEY: Final = "name"
"""The first column's fit name (its header is the dimension)."""
FIT: Final[Fit] = (
    (KEY, 36),
    ("efficiency", 0),
    ("fresh", 0),
    ("write 30m", 0),
    ("output", 0),
    (KEY, 20),
    ("requests", 0),
    ("write 5m", 0),
    ("write 1h", 0),
    ("read", 0),
    ("hit", 0),
)
"""The order in which a breakdown table narrows (see the module's docstring)."""


def _ratio(x: float | None) -> str:
    return percent(x) if x is not None else "-"


def _row(key: str, b: Bucket, writes_30m: bool) -> list[object]:
    t = b.tokens
    cells: list[object] = [
        key,
        b.requests,
        tokens(t.fresh),
        tokens(t.read),
        tokens(t.write_5m),
    ]
    if writes_30m:
        cells.append(tokens(t.write_30m))
    cells += [
        tokens(t.write_1h),
        tokens(t.output),
        usd(b.cost.total) if b.requests > b.unpriced else "-",
        _ratio(b.hit_ratio),
        _ratio(b.prefix_efficiency),
    ]
    return cells


def _fit(dim: str) -> Fit:
    return [(dim if name == KEY else name, n) for name, n in FIT]


def render(report: Report, limit: int = 10, width: int | None = None, period: str = "day") -> str:
    """Totals, breakdowns (``limit`` rows each; the ``period`` table, latest periods
    first, each with its models), causes, top findings, problems; every line at most
    ``width`` wide (``None``: as wide as it takes)."""
    total = report.total
    zone = report.zone
    out: list[str] = []
    if report.sources:
        out.append("Read: " + ", ".join(report.sources))
    if total.requests == 0:
        out.append("No requests found.")
    else:
        c = total.cost
        span = f"{clock(total.first_ms, zone)} .. {clock(total.last_ms, zone)}"
        out.append(f"{total.requests:,} requests in {len(report.by['session'])} sessions, {span}")
        out.append(
            f"Spend {usd(c.total)}: fresh {usd(c.fresh)}, cache read {usd(c.read)}, "
            f"writes {usd(c.write_5m + c.write_30m + c.write_1h)} "
            f"(1h {usd(c.write_1h)}), output {usd(c.output)}"
        )
        out.append(
            f"Hit ratio {_ratio(total.hit_ratio)}, prefix efficiency "
            f"{_ratio(total.prefix_efficiency)}; reads saved {usd(c.saved)}, "
            f"write premium {usd(c.write_premium)}"
        )
    writes_30m = total.tokens.write_30m > 0
    headers = ["", "requests", "fresh", "read", "write 5m"]
    if writes_30m:
        headers.append("write 30m")
    headers += ["write 1h", "output", "usd", "hit", "efficiency"]
    for dim in ("model", "project", "session", "stream", "agent"):
        buckets = report.by[dim]
        if not buckets or (dim in ("project", "agent") and len(buckets) < 2):
            continue
        rows = ranked(buckets, dim)
        shown = rows[:limit]
        out.append("")
        more = f" (top {limit} of {len(rows)})" if len(rows) > limit else ""
        out.append(f"{_TITLES[dim]}{more}:")
        cells = [_row(k, b, writes_30m) for k, b in shown]
        out.append(table([dim, *headers[1:]], cells, "  ", width=width, fit=_fit(dim)))
    periods = report.periods.get(period, [])
    if periods:
        shown_periods = periods[-limit:]
        out.append("")
        more = f" (latest {limit} of {len(periods)})" if len(periods) > limit else ""
        out.append(f"{_TITLES[period]}, {zone_name(zone)}{more}, each with its models:")
        cells = []
        for item in shown_periods:
            cells.append(_row(item.key, item.total, writes_30m))
            models = sorted(item.models.items(), key=lambda kv: (-kv[1].cost.total, kv[0]))
            cells.extend(_row(f"  {m}", b, writes_30m) for m, b in models)
        out.append(table([period, *headers[1:]], cells, "  ", width=width, fit=_fit(period)))
    if report.causes:
        out.append("")
        out.append("What the misses cost, by cause:")
        out.append(
            table(
                ["cause", "count", "excess tokens", "usd", "meaning"],
                [
                    [cause, s.count, tokens(s.excess_tokens), usd(s.usd), CAUSES[cause]]
                    for cause, s in report.causes.items()
                ],
                indent="  ",
                width=width,
                fit=[("meaning", -1), ("excess tokens", 0), ("meaning", 0)],
            )
        )
    if report.findings:
        out.append("")
        out.append(_findings_heading(report, limit))
        for i, f in enumerate(report.findings[:limit], 1):
            saves = "" if f.saved_usd is None else f"  saves {usd(f.saved_usd)}"
            saves += "  (unavoidable)" if f.unavoidable else ""
            out.append(f"  {i}. {usd(f.usd)}  {f.cause}  {f.request.source}{saves}")
            out.append(f"     {f.detail}")
            out.append(f"     do: {f.action}")
            if f.quote:
                out.append(f"     {f.quote}")
    if report.gaps.counts and sum(report.gaps.counts):
        out.append("")
        out.append("Gaps between a stream's requests (5m and 1h are the cache lifetimes):")
        labels = [f"<= {duration(e)}" for e in GAP_EDGES_S] + [f"> {duration(GAP_EDGES_S[-1])}"]
        out.append(
            table(["gap", "count"], list(zip(labels, report.gaps.counts, strict=True)), "  ")
        )
    if report.unpriced_models:
        out.append("")
        out.append(
            "Unpriced models (tokens counted, no dollars): " + ", ".join(report.unpriced_models)
        )
    dups = report.problems.duplicates
    if dups:
        out.append("")
        out.append(
            f"Duplicates dropped: {dups.total:,} responses already read in another file "
            "(a resumed or forked session), counted once:"
        )
        for (where, kept), n in list(dups.by_file.items())[:limit]:
            out.append(f"  {n:>6,}  {where} (kept in {kept})")
    if report.problems:
        p = report.problems
        out.append("")
        out.append(f"Unreadable input: {p.total:,} (the rest of the report stands)")
        for reason, n in sorted(p.by_reason.items(), key=lambda kv: -kv[1]):
            out.append(f"  {n:>6,}  {reason}")
        for e in p.examples[:limit]:
            out.append(f"  e.g. {e.where}: {e.reason}")
    return fit_lines("\n".join(out), width) + "\n"


def _findings_heading(report: Report, limit: int) -> str:
    """How many findings there are, and why fewer may show."""
    kept = len(report.findings)
    found = sum(s.count for s in report.causes.values())
    shown = min(kept, limit)
    # With hindsight the findings are ranked by what a different choice would have saved.
    hindsight = any(f.saved_usd is not None for f in report.findings)
    order = "most savable dollars first" if hindsight else "most dollars first"
    if shown == kept == found:
        return f"Top findings ({found}), {order}:"
    hints = []
    if shown < kept:
        hints.append("--rows N shows more")
    if kept < found:
        hints.append(f"--top N keeps more than {kept}")
    return f"Top findings ({shown} of {found}; {', '.join(hints)}), {order}:"
