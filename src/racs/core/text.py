"""Plain text for people: aligned tables, token counts, dollars, ratios, times, durations.

Pure string functions shared by every surface that writes for a reader (the report, replay,
the command line, findings' sentences); nothing here touches a terminal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

Cell = Any
_TENTH_MILLI = Decimal("0.0001")

# Right-align columns of numbers, amounts and percentages ("-" marks a missing value).
_NUMERIC = re.compile(r"^(-|-?\$?-?[\d,]+(\.\d+)?%?)$")


def cell(value: Cell) -> str:
    """One table cell as text: None is '-', floats get at most 4 decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "inf" if value > 0 else "-"
        return str(int(value)) if value.is_integer() else f"{value:.4f}".rstrip("0")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], indent: str = "") -> str:
    """An aligned text table; numeric columns are right-aligned."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        bool(rows) and all(_NUMERIC.match(r[i]) for r in text_rows) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return (indent + "  ".join(parts)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in text_rows)
    return "\n".join(out)


def tokens(n: float) -> str:
    """A token count with thousands separators."""
    return f"{int(n):,}"


def usd(x: float | None) -> str:
    """A USD amount to 1/100 cent, signed when negative, '-' when unknown.

    Rounded in decimal, half to even, after dropping the float noise past 1e-10 USD: a
    difference of two prices that is exactly half a 1/100 cent (0.07875) shows the same
    whichever way the binary arithmetic fell.
    """
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "-"
    amount = Decimal(repr(round(x, 10))).quantize(_TENTH_MILLI, rounding=ROUND_HALF_EVEN)
    return f"-${-amount:,.4f}" if amount < 0 else f"${amount:,.4f}"


def percent(ratio: float) -> str:
    """A ratio in [0, 1] as a percentage."""
    return f"{ratio * 100:.1f}%"


def iso(ms: float | None) -> str:
    """Milliseconds since the epoch as an ISO-8601 UTC timestamp."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """A short human duration: 45s, 4m 30s, 2h 5m."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"
