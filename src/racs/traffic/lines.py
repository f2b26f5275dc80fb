"""Reading log files line by line in bounded memory, whatever bytes they hold."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

from .problems import Problems

MAX_LINE_BYTES: Final = 32 * 1024 * 1024
"""Longer lines are skipped (and counted) without ever being held whole."""
_SNIFF_BYTES: Final = 8192

Meter = Callable[[int], None]
"""Told how many more bytes were read (drives a progress bar)."""


def is_binary(path: Path) -> bool:
    """True when the file's first bytes hold a NUL: not a text log."""
    with path.open("rb") as f:
        return b"\0" in f.read(_SNIFF_BYTES)


def numbered_lines(
    path: Path,
    problems: Problems,
    meter: Meter | None = None,
    max_line: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, raw line)``; a line over ``max_line`` bytes is drained in
    chunks, counted as a problem and skipped, so memory stays bounded by ``max_line``."""
    try:
        f = path.open("rb")
    except OSError as exc:
        problems.add(str(path), f"unreadable: {exc.strerror or type(exc).__name__}")
        return
    with f:
        lineno = 0
        while True:
            try:
                raw = f.readline(max_line)
            except OSError as exc:
                problems.add(f"{path}:{lineno + 1}", f"read error: {exc.strerror}")
                return
            if not raw:
                return
            lineno += 1
            if meter is not None:
                meter(len(raw))
            if len(raw) >= max_line and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(max_line)
                    if meter is not None:
                        meter(len(raw))
                problems.add(f"{path}:{lineno}", f"line longer than {max_line} bytes skipped")
                continue
            yield lineno, raw


def total_bytes(paths: Iterable[Path]) -> int:
    """Sum of the files' sizes (missing files count zero)."""
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return total
