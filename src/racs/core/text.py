"""Plain text for people: aligned tables, token counts, dollars, ratios, times, durations.

Pure string functions shared by every surface that writes for a reader (the report, replay,
the command line, findings' sentences); nothing here touches a terminal.
"""

from __future__ import annotations

import math
import re
import textwrap
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


Fit = Sequence[tuple[str, int]]
"""How a table narrows to a width, step by step until it fits: ``(column, 0)`` drops the
column, ``(column, n)`` with n > 0 abbreviates its cells to n characters (the middle gives
way to an ellipsis), ``(column, -1)`` wraps the last column's text onto more lines as soon
as ``MIN_WRAP`` characters are left for it (later steps make that room)."""
MIN_WRAP = 16

ELLIPSIS = "\u2026"


def abbreviate(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start and end around an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    indent: str = "",
    *,
    width: int | None = None,
    fit: Fit = (),
) -> str:
    """An aligned text table; numeric columns are right-aligned.

    With ``width``, the ``fit`` steps apply in order until every line is at most that wide
    (a table that still does not fit is as narrow as its steps make it).
    """
    text_rows = [[cell(v) for v in row] for row in rows]
    # Blank cells (a row that spans the table, such as an idle gap) leave the alignment.
    numeric = [
        any(r[i] for r in text_rows) and all(_NUMERIC.match(r[i]) for r in text_rows if r[i])
        for i in range(len(headers))
    ]
    columns = list(range(len(headers)))
    limits: dict[int, int] = {}
    wrap: int | None = None

    def widths() -> dict[int, int]:
        out = {}
        for i in columns:
            w = max([len(headers[i]), *(len(r[i]) for r in text_rows)])
            out[i] = min(w, max(limits[i], len(headers[i]))) if i in limits else w
        return out

    def total(ws: dict[int, int]) -> int:
        return len(indent) + sum(ws.values()) + 2 * (len(ws) - 1)

    pending: int | None = None  # a column to wrap once enough room is left for it

    def try_wrap(i: int, width: int) -> bool:
        nonlocal wrap
        ws = widths()
        room = width - total(ws) + ws[i]
        if room < max(len(headers[i]), MIN_WRAP):
            return False
        wrap = i
        limits[i] = room
        return True

    steps = iter(fit)
    while width is not None and total(widths()) > width:
        if pending is not None and pending in columns and try_wrap(pending, width):
            pending = None
            continue
        step = next(steps, None)
        if step is None:
            break
        name, n = step
        if name not in headers:
            continue
        i = list(headers).index(name)
        if i not in columns:
            continue
        if n == 0:
            columns.remove(i)
            wrap = None if wrap == i else wrap
        elif n > 0:
            limits[i] = n
        elif i == columns[-1] and not try_wrap(i, width):
            pending = i
    ws = widths()

    def line(values: Sequence[str]) -> str:
        parts = []
        for i in columns:
            v = values[i]
            if len(v) > ws[i]:
                v = abbreviate(v, ws[i])
            parts.append(v.rjust(ws[i]) if numeric[i] else v.ljust(ws[i]))
        return (indent + "  ".join(parts)).rstrip()

    out = [line(headers), line(["-" * ws.get(i, 0) for i in range(len(headers))])]
    for r in text_rows:
        if wrap is None or len(r[wrap]) <= ws[wrap]:
            out.append(line(r))
            continue
        pieces = textwrap.wrap(r[wrap], ws[wrap], break_on_hyphens=False) or [""]
        out.append(line([*r[:wrap], pieces[0], *r[wrap + 1 :]]))
        blank = [""] * len(r)
        out.extend(line([*blank[:wrap], p, *blank[wrap + 1 :]]) for p in pieces[1:])
    return "\n".join(out)


def fit_lines(text: str, width: int | None) -> str:
    """Every line of ``text`` at most ``width`` wide: a longer one wraps, its continuation
    indented two more spaces than the line (``None``: unchanged)."""
    if width is None:
        return text
    out = []
    for raw in text.split("\n"):
        if len(raw) <= width:
            out.append(raw)
            continue
        lead = raw[: len(raw) - len(raw.lstrip(" "))]
        if len(lead) + 10 > width:
            lead = ""
        out.extend(
            textwrap.wrap(
                raw.strip(" "),
                width,
                initial_indent=lead,
                subsequent_indent=lead + "  ",
                break_on_hyphens=False,
            )
        )
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
