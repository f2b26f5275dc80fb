"""Terminal-only rendering: progress bars on stderr (text formatting is racs.core.text)."""

from __future__ import annotations

import sys
from typing import TextIO


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
