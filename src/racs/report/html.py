"""The report as one self-contained HTML page: inline SVG charts, no script, no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from html import escape
from typing import Final

from racs.core.text import duration, percent, tokens, usd
from racs.report.buckets import Bucket
from racs.report.build import HOUR_MS, Report
from racs.report.periods import clock
from racs.report.walk import GAP_EDGES_S
from racs.report.wire import SCHEMA, ranked

# Token classes in stacking order, with colours that survive greyscale printing.
CLASSES: Final = (
    ("fresh", "fresh input", "#8c564b"),
    ("read", "cache read", "#2ca02c"),
    ("write_5m", "write 5m", "#ff7f0e"),
    ("write_30m", "write 30m", "#e377c2"),
    ("write_1h", "write 1h", "#d62728"),
    ("output", "output", "#1f77b4"),
)
W: Final = 720
H: Final = 220
PAD: Final = 40
DAY_MS: Final = 24 * HOUR_MS

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{padding:2px 8px;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin-right:1em} .legend i{display:inline-block;
width:10px;height:10px;margin-right:4px} svg{background:#fafafa;border:1px solid #eee}
.muted{color:#777}
"""


def _series(report: Report) -> tuple[list[tuple[int, Bucket]], int]:
    """Hourly buckets, or the report's days (in its zone) when the span is longer than
    three days."""
    hours = list(report.hourly.items())
    if not hours or hours[-1][0] - hours[0][0] <= 3 * DAY_MS:
        return hours, HOUR_MS
    if report.periods.get("day"):
        return [(int(p.start_ms), p.total) for p in report.periods["day"]], DAY_MS
    days: dict[int, Bucket] = {}
    for hour, b in hours:
        day = hour // DAY_MS * DAY_MS
        days.setdefault(day, Bucket()).merge(b)
    return sorted(days.items()), DAY_MS


def _axis(label_left: str, labels: Sequence[str]) -> str:
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#999"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#999"/>',
        f'<text x="4" y="20" font-size="11">{escape(label_left)}</text>',
    ]
    if labels:
        step = max(1, len(labels) // 6)
        slot = (W - PAD - 10) / len(labels)
        for i in range(0, len(labels), step):
            x = PAD + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{H - PAD + 16}" font-size="10" '
                f'text-anchor="middle">{escape(labels[i])}</text>'
            )
    return "".join(parts)


def _label(ms: int, step: int, zone: tzinfo) -> str:
    text = clock(ms, zone, seconds=False)
    return text[5:10] if step >= DAY_MS else text[5:13] + "h"


def spend_chart(report: Report) -> str:
    """Stacked bars: dollars by token class per hour (or day)."""
    series, step = _series(report)
    top = max((b.cost.total for _, b in series), default=0.0) or 1.0
    slot = (W - PAD - 10) / max(1, len(series))
    bars: list[str] = []
    for i, (ms, b) in enumerate(series):
        y = float(H - PAD)
        for field, name, colour in CLASSES:
            value = float(getattr(b.cost, field))
            if value <= 0:
                continue
            h = value / top * (H - PAD - 20)
            y -= h
            bars.append(
                f'<rect class="bar" data-class="{field}" data-usd="{value:.6f}" '
                f'x="{PAD + slot * i + 1:.1f}" y="{y:.1f}" width="{max(1.0, slot - 2):.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{_label(ms, step, report.zone)} {name} '
                f"{usd(value)}</title></rect>"
            )
    labels = [_label(ms, step, report.zone) for ms, _ in series]
    return _svg("spend", _axis(f"max {usd(top)}", labels) + "".join(bars))


def hit_chart(report: Report) -> str:
    """Hit ratio per hour (or day), a line with a point per bucket."""
    series, step = _series(report)
    slot = (W - PAD - 10) / max(1, len(series))
    points: list[tuple[float, float, float, int]] = []
    for i, (ms, b) in enumerate(series):
        ratio = b.hit_ratio
        if ratio is None:
            continue
        points.append((PAD + slot * (i + 0.5), H - PAD - ratio * (H - PAD - 20), ratio, ms))
    zone = report.zone
    body = [_axis("hit ratio (0-100%)", [_label(ms, step, zone) for ms, _ in series])]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="#2ca02c" stroke-width="2"/>')
    for x, y, ratio, ms in points:
        body.append(
            f'<circle class="point" data-ratio="{ratio:.4f}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
            f'fill="#2ca02c"><title>{_label(ms, step, zone)} {percent(ratio)}</title></circle>'
        )
    return _svg("hit", "".join(body))


def gap_chart(report: Report) -> str:
    """Gap histogram with the 5m and 1h cache lifetimes marked."""
    counts = report.gaps.counts
    labels = [f"<={duration(e)}" for e in GAP_EDGES_S] + [f">{duration(GAP_EDGES_S[-1])}"]
    top = max(counts, default=0) or 1
    slot = (W - PAD - 10) / len(counts)
    body = [_axis(f"gaps (max {top})", labels)]
    for i, n in enumerate(counts):
        h = n / top * (H - PAD - 20)
        body.append(
            f'<rect class="bar" data-count="{n}" x="{PAD + slot * i + 2:.1f}" '
            f'y="{H - PAD - h:.1f}" width="{slot - 4:.1f}" height="{h:.1f}" fill="#9467bd">'
            f"<title>{escape(labels[i])}: {n}</title></rect>"
        )
    for seconds, name in ((300, "5m TTL"), (3600, "1h TTL")):
        i = GAP_EDGES_S.index(seconds)
        x = PAD + slot * (i + 1)
        body.append(
            f'<line class="ttl" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{H - PAD}" '
            f'stroke="#d62728" stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="24" '
            f'font-size="11" fill="#d62728">{name}</text>'
        )
    return _svg("gaps", "".join(body))


def bars_chart(name: str, rows: Sequence[tuple[str, float]], colour: str) -> str:
    """Horizontal bars, one per (label, dollars), largest first."""
    top = max((v for _, v in rows), default=0.0) or 1.0
    height = 22 * max(1, len(rows)) + 10
    label_w = 260
    body: list[str] = []
    for i, (label, value) in enumerate(rows):
        y = 6 + 22 * i
        w = value / top * (W - label_w - 90)
        short = label if len(label) <= 38 else label[:37] + "\u2026"
        body.append(
            f'<text x="4" y="{y + 14}" font-size="11">{escape(short)}</text>'
            f'<rect class="bar" data-usd="{value:.6f}" x="{label_w}" y="{y}" '
            f'width="{max(1.0, w):.1f}" height="16" fill="{colour}">'
            f"<title>{escape(label)} {usd(value)}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="11">{usd(value)}</text>'
        )
    return (
        f'<svg id="chart-{name}" xmlns="http://www.w3.org/2000/svg" width="{W}" '
        f'height="{height}" viewBox="0 0 {W} {height}" role="img">{"".join(body)}</svg>'
    )


def _svg(name: str, body: str) -> str:
    return (
        f'<svg id="chart-{name}" xmlns="http://www.w3.org/2000/svg" width="{W}" '
        f'height="{H}" viewBox="0 0 {W} {H}" role="img">{body}</svg>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="{"n" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{escape(v)}</td>' for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report, limit: int = 15) -> str:
    """The page: summary, the three charts, top sessions, causes and findings."""
    t = report.total
    c = t.cost
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{escape(name)}</span>'
        for _, name, colour in CLASSES
    )
    top_sessions = ranked(report.by["session"], "session")[:limit]
    sessions = [
        [
            k,
            str(b.requests),
            tokens(b.tokens.input),
            usd(b.cost.total),
            percent(b.hit_ratio or 0.0),
            percent(b.prefix_efficiency or 0.0),
        ]
        for k, b in top_sessions
    ]
    causes = [
        [cause, str(s.count), tokens(s.excess_tokens), usd(s.usd)]
        for cause, s in report.causes.items()
    ]
    findings = [
        [
            usd(f.usd),
            "unavoidable" if f.unavoidable else usd(f.saved_usd),
            f.cause,
            f.request.session[:12],
            f.detail,
            f.action,
            f.quote or "",
        ]
        for f in report.findings[:limit]
    ]
    problems = ""
    if report.problems:
        p = report.problems
        problems = f"<h2>Unreadable input ({p.total:,})</h2>" + _table(
            ["where", "reason"], [[e.where, e.reason] for e in p.examples[:limit]], set()
        )
    unpriced = (
        f"<p>Unpriced models (tokens only): {escape(', '.join(report.unpriced_models))}</p>"
        if report.unpriced_models
        else ""
    )
    summary = (
        f"{t.requests:,} requests in {len(report.by['session']):,} sessions, "
        f"{clock(t.first_ms, report.zone)} .. {clock(t.last_ms, report.zone)}. "
        f"Spend <b>{usd(c.total)}</b>; hit ratio "
        f"{percent(t.hit_ratio or 0.0)}; prefix efficiency {percent(t.prefix_efficiency or 0.0)}; "
        f"misses priced at {usd(sum(s.usd for s in report.causes.values()))}."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="racs report ({SCHEMA})">
<title>racs report: where prompt-cache money goes</title><style>{_CSS}</style></head>
<body><h1>Where prompt-cache money goes</h1>
<p id="summary">{summary}</p>
<h2>Spend by token class over time</h2><div class="legend">{legend}</div>{spend_chart(report)}
<h2>Hit ratio over time</h2>{hit_chart(report)}
<h2>Gaps between a stream's requests, against the 5m and 1h lifetimes</h2>{gap_chart(report)}
<h2>Top sessions</h2>
{bars_chart("sessions", [(k, b.cost.total) for k, b in top_sessions], "#1f77b4")}
{_table(["session", "requests", "input", "usd", "hit", "efficiency"], sessions, {1, 2, 3, 4, 5})}
<h2>What the misses cost, by cause</h2>
{bars_chart("causes", [(c, x.usd) for c, x in report.causes.items()], "#d62728")}
{_table(["cause", "count", "excess tokens", "usd"], causes, {1, 2, 3})}
<h2>Top findings</h2>
{_table(["usd", "saves", "cause", "session", "detail", "do", "hindsight"], findings, {0, 1})}
{unpriced}{problems}
<p class="muted">Generated by racs; no prompt text is included.</p>
</body></html>
"""
