"""The report as terminal tables."""

from __future__ import annotations

from racs.core.text import duration, iso, percent, table, tokens, usd
from racs.report.buckets import Bucket
from racs.report.build import Report
from racs.report.findings import CAUSES
from racs.report.walk import GAP_EDGES_S
from racs.report.wire import ranked

_TITLES = {
    "model": "By model",
    "project": "By project",
    "session": "By session",
    "stream": "By stream",
    "agent": "By agent",
    "day": "By day",
}


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


def render(report: Report, limit: int = 10) -> str:
    """Totals, breakdowns (``limit`` rows each), causes, top findings, problems."""
    total = report.total
    out: list[str] = []
    if report.sources:
        out.append("Read: " + ", ".join(report.sources))
    if total.requests == 0:
        out.append("No requests found.")
    else:
        c = total.cost
        span = f"{iso(total.first_ms)} .. {iso(total.last_ms)}"
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
    for dim in ("model", "project", "session", "stream", "agent", "day"):
        buckets = report.by[dim]
        if not buckets or (dim in ("project", "agent") and len(buckets) < 2):
            continue
        rows = ranked(buckets, dim)
        shown = rows[:limit]
        out.append("")
        more = f" (top {limit} of {len(rows)})" if len(rows) > limit else ""
        out.append(f"{_TITLES[dim]}{more}:")
        out.append(
            table([dim, *headers[1:]], [_row(k, b, writes_30m) for k, b in shown], indent="  ")
        )
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
            )
        )
    if report.findings:
        out.append("")
        out.append(f"Top findings ({len(report.findings)}), most dollars first:")
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
    return "\n".join(out) + "\n"
