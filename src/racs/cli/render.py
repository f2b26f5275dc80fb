"""Terminal-only rendering: the width tables fit, progress bars on stderr (text
formatting is racs.core.text)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Final, TextIO

PIPED_WIDTH: Final = 120
"""The width tables fit when stdout is not a terminal (and COLUMNS is unset)."""


WIDTH_HELP: Final = (
    "print every column, however wide (default: fit the terminal, 120 columns when "
    "stdout is not one)"
)


def width_of(ns: argparse.Namespace) -> int | None:
    """The width tables fit: ``None`` with ``--wide``, else ``terminal_width()``."""
    return None if getattr(ns, "wide", False) else terminal_width()


def terminal_width() -> int:
    """``$COLUMNS``, else the terminal's width, else ``PIPED_WIDTH``."""
    return max(20, shutil.get_terminal_size((PIPED_WIDTH, 24)).columns)


def shows_progress(stream: TextIO) -> bool:
    """Progress goes to ``stream`` when it is a terminal, or ``RACS_PROGRESS=1`` forces it
    (``RACS_PROGRESS=0`` silences it)."""
    forced = os.environ.get("RACS_PROGRESS", "")
    if forced in ("0", "1"):
        return forced == "1"
    return stream.isatty()


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
        self.tty = shows_progress(self.stream)

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


class Step:
    """Names a slow step on stderr as it starts (when progress shows: see
    ``shows_progress``), for steps without a byte count to follow."""

    def __init__(self, command: str, stream: TextIO | None = None) -> None:
        self.command = command
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, what: str) -> None:
        """Say that ``what`` starts."""
        if shows_progress(self.stream):
            self.stream.write(f"{self.command}: {what}\n")
            self.stream.flush()
