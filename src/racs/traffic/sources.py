"""One entry point over every importer: ``read(paths, problems)`` yields requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from . import claude_code
from .lines import Meter
from .model import Request
from .problems import Problems


def read(
    paths: Iterable[str | Path],
    problems: Problems,
    meter: Meter | None = None,
) -> Iterator[Request]:
    """Requests found under ``paths`` (files or folders); what cannot be read goes to
    ``problems``. Requests of one session come together and in time order."""
    chosen = [Path(p) for p in paths]
    for p in chosen:
        if not p.exists():
            problems.add(str(p), "no such file or folder")
    yield from claude_code.read([p for p in chosen if p.exists()], problems, meter)
