"""Which files the importers open: regular, readable files only, anything else named.

A folder may hold what no reader should touch: a FIFO named ``*.jsonl`` (opening it
waits forever for a writer), a socket, a dangling link, a symbolic-link loop, a file or
folder this user may not read. Each is skipped and named in ``problems``; the rest is
read. Symbolic links to files are followed; links to folders are not (a loop of them
would never end).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from racs.traffic.problems import Problems


def _reason(exc: OSError) -> str:
    return f"unreadable: {exc.strerror or type(exc).__name__}"


def usable(path: Path, problems: Problems) -> bool:
    """Whether ``path`` is a regular file this process can open (else it is named)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        problems.add(str(path), _reason(exc))
        return False
    if not stat.S_ISREG(mode):
        problems.add(str(path), "not a regular file (skipped)")
        return False
    try:
        # O_NONBLOCK: should the file have become a FIFO since, opening it cannot hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        problems.add(str(path), _reason(exc))
        return False
    os.close(fd)
    return True


def files_under(folder: Path, suffixes: tuple[str, ...], problems: Problems) -> list[Path]:
    """The files under ``folder`` whose names end with one of ``suffixes``, sorted by
    folder then name; folders that cannot be listed are named in ``problems``."""
    found: list[Path] = []

    def unlisted(exc: OSError) -> None:
        problems.add(str(exc.filename or folder), _reason(exc))

    for root, dirs, names in os.walk(folder, onerror=unlisted):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names) if n.endswith(suffixes))
    return found


def regular_files(
    paths: Iterable[Path], suffixes: tuple[str, ...], problems: Problems
) -> list[Path]:
    """Files named in ``paths`` or found under the folders among them, each checked by
    ``usable`` (what fails is named and left out)."""
    out: list[Path] = []
    for p in paths:
        try:
            folder = stat.S_ISDIR(os.stat(p).st_mode)
        except OSError:
            folder = False
        candidates = files_under(p, suffixes, problems) if folder else [p]
        out.extend(f for f in candidates if usable(f, problems))
    return out
