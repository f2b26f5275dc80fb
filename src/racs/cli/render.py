"""Plain-text rendering for the terminal: aligned tables, numbers, durations, progress."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

Cell = Any

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
    """A USD amount, signed when negative, '-' when unknown."""
    if x is None:
        return "-"
    return f"-${-x:,.4f}" if x < 0 else f"${x:,.4f}"


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


class Progress:
    """A progress bar when stdout is a terminal, plain progress lines (every quarter)
    otherwise; both go to stderr so stdout stays byte-identical for identical flags."""

    def __init__(
        self, stream: TextIO | None = None, width: int = 30, tty: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = sys.stdout.isatty() if tty is None else tty

    def __call__(self, provider: str, variant: str, done: int, total: int) -> None:
        """Report that ``done`` of ``total`` calls of one variant are simulated."""
        label = f"{provider} {variant}"
        if self.tty:
            filled = self.width * done // total
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\r[{bar}] {label:<22} {done}/{total}{end}")
            self.stream.flush()
        elif done == total or done % max(1, total // 4) == 0:
            self.stream.write(f"simulate: {label} {done}/{total}\n")
            self.stream.flush()


class ByteProgress:
    """Progress through a known number of bytes on stderr: a bar on a terminal, nothing
    otherwise (reports are piped; stdout stays clean either way)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 30):
        self.total = max(1, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._shown = -1
        self.tty = self.stream.isatty()

    def __call__(self, n: int) -> None:
        """Count ``n`` more bytes read."""
        self.done += n
        step = min(100, self.done * 100 // self.total)
        if self.tty and step != self._shown:
            self._shown = step
            filled = self.width * step // 100
            bar = "#" * filled + "." * (self.width - filled)
            mb = self.done / 1e6
            self.stream.write(f"\r[{bar}] {self.label} {step:3d}% {mb:,.1f} MB")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and self._shown >= 0:
            self.stream.write("\n")
            self.stream.flush()
