"""Hindsight for the top findings: what the best choice would have saved, from replay.

The report streams, so it keeps no stream whole; for the few findings it shows, the
files they came from are read again and each finding's stream (same stream, same model)
is handed to ``racs.replay.quote.quotes``, which replays it with one decision changed. An
expiry is quoted at the request whose entry expired (the write that could have lived
longer), every other cause at the request itself. Ledger sources are not re-read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from racs.core.errors import RacsError
from racs.core.prices import PriceBook
from racs.core.text import usd
from racs.replay.quote import Quoter
from racs.report.findings import EXPIRY, TIER_CHOICE, Finding
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import read

Admits = Callable[[Request], bool]


def _file_of(source: str) -> Path | None:
    """The file a ``file:line`` source names (its session file for a Claude Code subagent)."""
    path_text, sep, line = source.rpartition(":")
    if not sep or not line.isdigit():
        return None
    path = Path(path_text)
    if path.parent.name == "subagents":
        main = path.parent.parent.with_suffix(".jsonl")
        if main.is_file():
            return main
    return path if path.is_file() else None


def with_hindsight(
    findings: Sequence[Finding], prices: PriceBook, admits: Admits = lambda r: True
) -> list[Finding]:
    """``findings`` with ``quote`` filled in where a stream could be replayed."""
    wanted: dict[Path, set[tuple[str, str]]] = defaultdict(set)
    for f in findings:
        if f.cause == TIER_CHOICE:
            continue  # already a whole-stream comparison
        path = _file_of(f.request.source)
        if path is not None:
            wanted[path].add((f.request.stream, f.request.model))
    streams: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for path, keys in wanted.items():
        for r in read([path], Problems()):
            if (r.stream, r.model) in keys and admits(r):
                streams[(r.stream, r.model)].append(r)
    out = []
    quoters: dict[tuple[str, str], Quoter | None] = {}
    for f in findings:
        key = (f.request.stream, f.request.model)
        stream = streams.get(key)
        quote = None
        if stream and f.cause != TIER_CHOICE:
            if key not in quoters:
                quoters[key] = _quoter(stream, prices)
            quoter = quoters[key]
            quote = _quote(f, stream, quoter) if quoter is not None else None
        out.append(replace(f, quote=quote) if quote else f)
    return out


def _quoter(stream: list[Request], prices: PriceBook) -> Quoter | None:
    """One quoter per stream: reconstructed and replayed once for all of its findings."""
    try:
        return Quoter(stream, prices)
    except (RacsError, ValueError):
        return None  # no cache model for this provider: no hindsight to offer


def _quote(f: Finding, stream: list[Request], quoter: Quoter) -> str | None:
    target = f.request
    index = next(
        (
            i
            for i, r in enumerate(stream)
            if r.timestamp_ms == target.timestamp_ms and r.request_id == target.request_id
        ),
        None,
    )
    if index is None:
        return None
    at = index - 1 if f.cause == EXPIRY and index > 0 else index
    try:
        q = quoter.quote(at)
    except (RacsError, ValueError):
        return None
    where = "at the previous request" if at != index else "here"
    if q.saved_usd <= 0:
        return f"hindsight: the recorded choice {where} was already the cheapest"
    what = "no write" if q.tier is None else f"a {q.tier} write"
    return f"hindsight: {what} {where} would have saved {usd(q.saved_usd)}"
