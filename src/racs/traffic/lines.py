"""Reading log files line by line in bounded memory, whatever bytes they hold."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from racs.traffic.problems import Problems

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


CHUNK: Final = 8 << 20
"""Bytes read at a time: most transcripts are read in one go; memory stays bounded."""


def lines_containing(
    path: Path,
    needle: bytes,
    problems: Problems,
    meter: Meter | None = None,
    max_line: int = MAX_LINE_BYTES,
    chunk_size: int = CHUNK,
) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` of the lines holding ``needle``, found by scanning
    large chunks so the other lines are never split out one by one (nor copied). A line
    reaching ``max_line`` bytes before its end is counted as a problem and drained unread."""
    try:
        f = path.open("rb")
    except OSError as exc:
        problems.add(str(path), f"unreadable: {exc.strerror or type(exc).__name__}")
        return
    with f:
        buf = b""
        lineno = 1  # the number of buf's first line
        draining = False
        while True:
            try:
                chunk = f.read(chunk_size)
            except OSError as exc:
                problems.add(f"{path}:{lineno}", f"read error: {exc.strerror}")
                return
            if not chunk:  # end of file: a last line without a newline still counts
                if buf and needle in buf:
                    yield lineno, buf
                return
            if meter is not None:
                meter(len(chunk))
            if draining:
                nl = chunk.find(b"\n")
                if nl < 0:
                    continue
                chunk = chunk[nl + 1 :]
                lineno += 1
                draining = False
                if not chunk:
                    continue
            buf = buf + chunk if buf else chunk
            end = buf.rfind(b"\n")
            if end >= 0:
                found, counted, at = _scan(buf, needle, lineno, end + 1)
                yield from found
                lineno = at + buf.count(b"\n", counted, end + 1)
                buf = buf[end + 1 :]
            if len(buf) >= max_line:
                problems.add(f"{path}:{lineno}", f"line longer than {max_line} bytes skipped")
                buf = b""
                draining = True


def _scan(
    block: bytes, needle: bytes, lineno: int, stop_at: int
) -> tuple[list[tuple[int, bytes]], int, int]:
    """Lines of ``block[:stop_at]`` (whole lines, ending in a newline) holding ``needle``,
    with how far newlines were counted and the line number there (so the caller counts
    the rest once)."""
    found: list[tuple[int, bytes]] = []
    counted = 0
    i = block.find(needle, 0, stop_at)
    while i >= 0:
        start = block.rfind(b"\n", 0, i) + 1
        stop = block.find(b"\n", i, stop_at) + 1
        lineno += block.count(b"\n", counted, start)
        counted = start
        found.append((lineno, block[start:stop]))
        i = block.find(needle, stop, stop_at)
    return found, counted, lineno


@dataclass(frozen=True, slots=True)
class Appended:
    """The whole lines a file gained after a byte offset that hold a needle."""

    found: list[tuple[int, bytes]]
    """``(line number, raw line)``, numbered from the caller's line number."""
    offset: int
    """Byte offset after the last whole line (a line still being written waits)."""
    lineno: int
    """Number of the line starting at ``offset``."""


def appended_lines(
    path: Path, needle: bytes, offset: int = 0, lineno: int = 1, chunk_size: int = CHUNK
) -> Appended:
    """The lines holding ``needle`` among the whole lines after ``offset`` (line ``lineno``
    starts there), for readers that follow a growing file; ``OSError`` propagates."""
    found: list[tuple[int, bytes]] = []
    with path.open("rb") as f:
        f.seek(offset)
        buf = b""
        while chunk := f.read(chunk_size):
            buf = buf + chunk if buf else chunk
            end = buf.rfind(b"\n")
            if end < 0:
                continue
            hits, counted, at = _scan(buf, needle, lineno, end + 1)
            found.extend(hits)
            lineno = at + buf.count(b"\n", counted, end + 1)
            offset += end + 1
            buf = buf[end + 1 :]
    return Appended(found, offset, lineno)


def total_bytes(paths: Iterable[Path]) -> int:
    """Sum of the files' sizes (missing files count zero)."""
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return total
