"""A self-contained page: cumulative cost over time per strategy (inline SVG, no script)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from racs.replay.run import OPTIMUM, Replay
from racs.replay.wire import cumulative

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_W, _H, _PAD = 900, 420, 60


def _when(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def render_html(result: Replay) -> str:
    """The replay page: one polyline per strategy, a legend with totals, the calibration."""
    series = cumulative(result)
    names = [n for n in (*result.strategies, OPTIMUM) if n in series]
    t0 = min((s[0][0] for s in series.values() if s), default=0.0)
    t1 = max((s[-1][0] for s in series.values() if s), default=1.0)
    top = max((s[-1][1] for s in series.values() if s), default=1.0) or 1.0
    span = (t1 - t0) or 1.0

    def x(t: float) -> float:
        return _PAD + (t - t0) / span * (_W - 2 * _PAD)

    def y(usd: float) -> float:
        return _H - _PAD - usd / top * (_H - 2 * _PAD)

    lines = []
    legend = []
    for i, name in enumerate(names):
        color = _COLORS[i % len(_COLORS)]
        pts = [(t0, 0.0), *series[name]]
        path = " ".join(f"{x(t):.1f},{y(u):.1f}" for t, u in pts)
        dash = ' stroke-dasharray="6 4"' if name == OPTIMUM else ""
        lines.append(
            f'<polyline class="series" data-strategy="{escape(name)}" fill="none" '
            f'stroke="{color}" stroke-width="2"{dash} points="{path}"/>'
        )
        total = series[name][-1][1]
        share = result.captured(name) if name in result.totals["neutral"] else None
        share_text = "" if share is None else f", captures {share * 100:.1f}%"
        legend.append(
            f'<li><span class="swatch" style="background:{color}"></span>'
            f'<span class="name">{escape(name)}</span> '
            f'<span class="usd" data-usd="{total:.6f}">${total:,.2f}</span>{share_text}</li>'
        )
    ticks = []
    for k in range(5):
        usd = top * k / 4
        ticks.append(
            f'<text x="{_PAD - 6}" y="{y(usd) + 4:.1f}" text-anchor="end">${usd:,.2f}</text>'
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y(usd):.1f}" y2="{y(usd):.1f}" '
            'stroke="#ddd"/>'
        )
    ticks.append(f'<text x="{_PAD}" y="{_H - _PAD + 20}">{_when(t0)}</text>')
    ticks.append(f'<text x="{_W - _PAD}" y="{_H - _PAD + 20}" text-anchor="end">{_when(t1)}</text>')
    cal = result.calibration
    anomalies = ", ".join(f"{k} {v}" for k, v in sorted(cal.anomalies.items())) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>racs replay</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
svg text {{ font-size: 11px; fill: #555; }}
ul.legend {{ list-style: none; padding: 0; }}
.swatch {{ display: inline-block; width: 14px; height: 4px; margin-right: 6px;
  vertical-align: middle; }}
</style></head><body>
<h1>racs replay</h1>
<p>{result.requests} requests in {result.stream_count} streams; cumulative cost over time
per strategy (neutral setting; the dashed line is the hindsight optimum).</p>
<svg id="cumulative" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}"
 viewBox="0 0 {_W} {_H}" role="img" aria-label="cumulative cost per strategy">
{"".join(ticks)}
{"".join(lines)}
</svg>
<ul class="legend">{"".join(legend)}</ul>
<p id="calibration">Calibration: {cal.exact} of {cal.requests} requests exact; named
anomalies: {escape(anomalies)}; error tokens outside anomalies: {cal.error_tokens}.</p>
</body></html>
"""
