"""Hindsight for the top findings: what the best choice would have saved, from replay.

The report streams, so it keeps no stream whole; for the few findings it shows, the
files they came from are read again and each finding's stream (same stream, same model)
is handed to ``racs.replay.quote.quotes``, which replays it with one decision changed. An
expiry is quoted at the request whose entry expired (the write that could have lived
longer), every other cause at the request itself; stream-wide findings compare whole
streams (``racs.replay.quote.stream_hindsight``). Ledger sources are read again too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from racs.core.errors import RacsError
from racs.core.prices import PriceBook
from racs.core.text import duration, usd
from racs.replay.quote import Hindsight, Quoter, stream_hindsight
from racs.report.findings import ACTIONS, EXPIRY, MIXED_TIER, TIER_CHOICE, UNCACHED, Finding
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import read

Admits = Callable[[Request], bool]


def _file_of(source: str) -> Path | None:
    """The file a ``file:line`` (or ledger ``file#id``) source names (its session file for
    a Claude Code subagent)."""
    path_text, sep, line = source.rpartition(":")
    if not sep or not line.isdigit():
        path_text, sep, line = source.rpartition("#")
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
    """``findings`` with what a different choice would have saved, ranked by it.

    Each finding's stream is replayed: a request's finding is quoted (one decision
    changed), a stream-wide one compared whole; a stream whose longest pauses a 1h write
    would have bridged while 5m serves the rest gets a ``mixed_tier`` finding. Where a
    stream's findings would save more together than its gap to the optimum, their savings
    are allotted largest first up to that gap. A finding nothing would have saved (or an
    expiry no tier would have outlived) is ``unavoidable``.
    """
    wanted: dict[Path, set[tuple[str, str]]] = defaultdict(set)
    for f in findings:
        path = _file_of(f.request.source)
        if path is not None:
            wanted[path].add((f.request.stream, f.request.model))
    streams: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for path, keys in wanted.items():
        for r in read([path], Problems()):
            if (r.stream, r.model) in keys and admits(r):
                streams[(r.stream, r.model)].append(r)
    by_stream: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    alone: list[Finding] = []
    for f in findings:
        key = (f.request.stream, f.request.model)
        (by_stream[key] if streams.get(key) else alone).append(f)
    out = list(alone)
    for key, found in by_stream.items():
        out.extend(savings_of(found, streams[key], prices))
    return sorted(out, key=_rank)


def _rank(f: Finding) -> tuple[float, float]:
    """Most savable first; findings never replayed by what they lost, after them."""
    if f.saved_usd is None:
        return (1.0, -(f.usd or 0.0))
    return (0.0, -f.saved_usd)


Claimed = list[tuple[Finding, frozenset[tuple[int, str | None]]]]
"""Findings with the (request index, tier) choices their savings rest on."""


def savings_of(found: list[Finding], stream: list[Request], prices: PriceBook) -> list[Finding]:
    """One stream's findings with what each would have saved (plus its mixed-tier finding):
    the largest savings first, each at most what the stream's gap to its optimum leaves,
    so together they never claim more than that gap."""
    uncached = any(f.cause == UNCACHED for f in found)
    prefix = int(min(r.tokens.input for r in stream)) if uncached else None
    try:
        # The optimum's dynamic program only when the savings may need its bound.
        h = stream_hindsight(stream, prices, prefix=prefix, exact=False)
    except (RacsError, ValueError):
        return found  # no cache model for this provider: no hindsight to offer
    n = len(stream)
    every = {(i, "5m") for i in range(n)}
    # What each finding's saving is made of, as (request index, tier) choices: two
    # findings resting on the same choice save it once.
    out: Claimed = []
    quoted = _quoted(found, stream, prices)
    for f in found:
        if f.cause == TIER_CHOICE:
            # Replayed whole where the record was; under an assumed prefix (uncached),
            # the walk's own difference of 5m and 1h writes, capped below like the rest.
            saved = h.recorded_usd - h.five_usd if h.five_usd is not None else f.usd
            out.append((replace(f, saved_usd=saved), frozenset(every)))
        elif f.cause == UNCACHED:
            out.append((replace(f, saved_usd=h.gap_usd or 0.0), frozenset()))
        else:
            out.append(quoted.get(id(f), (f, frozenset())))
    mixed = _mixed(found[0].request, stream, h)
    if mixed is not None:
        # The mixed choice supersedes an all-5m tier finding it beats.
        beats = mixed.saved_usd or 0.0
        out = [(f, c) for f, c in out if f.cause != TIER_CHOICE or (f.saved_usd or 0.0) >= beats]
        pause = set(h.pause_at)
        out.append((mixed, frozenset((i, "1h" if i in pause else "5m") for i in range(n))))
    gap = h.gap_usd
    if gap is None:
        # Each saving alone is one the optimum also makes (a choice against the record):
        # the largest is a bound below the gap; the exact gap only if it cuts anything.
        gap = max((max(0.0, f.saved_usd or 0.0) for f, _ in out), default=0.0)
        capped, cut = _allot(out, gap)
        if not cut:
            return capped
        exact = stream_hindsight(stream, prices).gap_usd
        gap = exact if exact is not None else gap
    return _allot(out, gap)[0]


def _allot(out: Claimed, gap: float) -> tuple[list[Finding], bool]:
    """The findings' savings allotted largest first up to ``gap``, a choice saved once;
    and whether ``gap`` cut any of them short."""
    left = gap
    cut = False
    taken: set[tuple[int, str | None]] = set()
    capped: list[Finding] = []
    # Stream-wide findings first on a tie: they name the whole choice.
    for f, claim in sorted(out, key=lambda x: (-(x[0].saved_usd or 0.0), x[0].cause not in _WIDE)):
        if f.saved_usd is None:
            capped.append(f)
            continue
        # What nothing would have kept saves nothing (its write premium is the write's own
        # finding).
        own = 0.0 if f.unavoidable else max(0.0, f.saved_usd)
        same = bool(claim & taken) and own > _CENT_HUNDREDTH
        raw = 0.0 if same else own
        taken |= claim if own > _CENT_HUNDREDTH else set()
        share = min(raw, left)
        left -= share
        quote = f.quote
        if same:
            quote = f"{quote or 'hindsight'} (the same choice as a larger finding of this stream)"
        elif share < raw - _CENT_HUNDREDTH:
            cut = True
            counted = f"{usd(raw - share)} of it counted in this stream's larger findings"
            quote = f"{quote or 'hindsight'} ({counted})"
        unavoidable = f.unavoidable or own <= _CENT_HUNDREDTH
        capped.append(replace(f, saved_usd=share, unavoidable=unavoidable, quote=quote))
    return capped, cut


_WIDE: Final = (MIXED_TIER, TIER_CHOICE, UNCACHED)
"""Causes that compare a whole stream's choices, not one request's."""
_CENT_HUNDREDTH: Final = 1e-4
"""Savings under 1/100 cent (the report's precision) count as none."""


def _mixed(first: Request, stream: list[Request], h: Hindsight) -> Finding | None:
    """The mixed-tier finding of a stream, when it saves anything."""
    if h.mixed_usd is None or h.recorded_usd - h.mixed_usd <= _CENT_HUNDREDTH:
        return None
    saved = h.recorded_usd - h.mixed_usd
    n = len(h.pauses)
    longest = ", ".join(duration(p) for p in h.pauses)
    pauses = f"the stream's {n} longest pauses" if n > 1 else "the stream's longest pause"
    writes = sum(r.tokens.writes for r in stream)
    return Finding(
        cause=MIXED_TIER,
        usd=saved,
        excess_tokens=int(writes),
        request=first,
        detail=f"writing 1h only before {pauses} ({longest}) and 5m elsewhere would have "
        f"saved {usd(saved)}",
        action=ACTIONS[MIXED_TIER],
        saved_usd=saved,
    )


def _quoted(
    found: list[Finding], stream: list[Request], prices: PriceBook
) -> dict[int, tuple[Finding, frozenset[tuple[int, str | None]]]]:
    """Each request finding (by ``id``) quoted, with the choice its saving rests on; one
    ``Quoter`` replays the stream once for all of them."""
    position = {(r.timestamp_ms, r.request_id): i for i, r in enumerate(stream)}
    asked: list[tuple[Finding, int, int]] = []
    for f in found:
        if f.cause in _WIDE:
            continue
        index = position.get((f.request.timestamp_ms, f.request.request_id))
        if index is not None:
            # An expiry is quoted at the write that expired, the rest at the request.
            at = index - 1 if f.cause == EXPIRY and index > 0 else index
            asked.append((f, index, at))
    if not asked:
        return {}
    try:
        quoter = Quoter(stream, prices)
        got = [quoter.quote(at) for _, _, at in asked]
    except (RacsError, ValueError):
        return {}  # no cache model for this provider: no hindsight to offer
    out: dict[int, tuple[Finding, frozenset[tuple[int, str | None]]]] = {}
    for (f, index, at), q in zip(asked, got, strict=True):
        where = "at the previous request" if at != index else "here"
        if q.saved_usd <= 0:
            sentence = f"hindsight: the recorded choice {where} was already the cheapest"
            out[id(f)] = (replace(f, quote=sentence, saved_usd=0.0), frozenset())
            continue
        what = "no write" if q.tier is None else f"a {q.tier} write"
        sentence = f"hindsight: {what} {where} would have saved {usd(q.saved_usd)}"
        out[id(f)] = (replace(f, quote=sentence, saved_usd=q.saved_usd), frozenset([(at, q.tier)]))
    return out
