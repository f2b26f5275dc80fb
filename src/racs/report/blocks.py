"""Claude's 5-hour billing windows ("blocks"), as ccusage counts them.

A block starts at its first request's time floored to the (UTC) hour and lasts five
hours; the first request at or after its end starts the next block, and a pause longer
than five hours leaves an idle gap between two blocks. A block is active while the clock
is inside it. Tokens are all of them (fresh, cache reads, cache writes, output), as the
usage limits count them; the burn rate spreads a block's tokens and dollars over the
minutes from its first request to its last, and the active block's projection runs that
rate on to the block's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Final

from racs.core.accounting import cost_of
from racs.core.prices import PriceBook
from racs.core.text import Fit, duration, fit_lines, percent, table, tokens, usd
from racs.report.buckets import Bucket, as_row
from racs.report.build import HOUR_MS, Filters
from racs.report.periods import clock, zone_name
from racs.traffic.model import Request

BLOCK_MS: Final = 5 * HOUR_MS
"""A block's length."""
MINUTE_MS: Final = 60_000


def is_claude(r: Request) -> bool:
    """True for the requests the 5-hour windows count: Claude models, however reached."""
    return r.provider == "anthropic" or "claude" in r.model


@dataclass(slots=True)
class Block:
    """One 5-hour window and what its requests used."""

    start_ms: float
    first_ms: float
    last_ms: float
    total: Bucket = field(default_factory=Bucket)
    models: dict[str, Bucket] = field(default_factory=dict)

    @property
    def end_ms(self) -> float:
        """When the window closes (excluded)."""
        return self.start_ms + BLOCK_MS

    @property
    def tokens(self) -> float:
        """Every token of the block: input (fresh, read, written) and output."""
        t = self.total.tokens
        return t.input + t.output

    @property
    def usd(self) -> float:
        """Dollars of the block's priced requests."""
        return self.total.cost.total

    def active(self, now_ms: float) -> bool:
        """True while ``now_ms`` is inside the window."""
        return self.start_ms <= now_ms < self.end_ms

    def burn_rate(self) -> tuple[float, float] | None:
        """Tokens per minute and dollars per hour from the first request to the last
        (``None`` when they are at the same moment)."""
        minutes = (self.last_ms - self.first_ms) / MINUTE_MS
        if minutes <= 0:
            return None
        return self.tokens / minutes, self.usd / minutes * 60

    def projection(self, now_ms: float) -> tuple[float, float] | None:
        """Tokens and dollars at the block's end if the burn rate holds (``None`` unless
        the block is active with a burn rate)."""
        rate = self.burn_rate()
        if rate is None or not self.active(now_ms):
            return None
        left = max(0.0, self.end_ms - now_ms) / MINUTE_MS
        return self.tokens + rate[0] * left, self.usd + rate[1] * left / 60

    def to_dict(self, now_ms: float, limit: float | None) -> dict[str, Any]:
        """Wire form (see ``racs blocks --json`` in the README)."""
        rate = self.burn_rate()
        projected = self.projection(now_ms)
        models = sorted(self.models.items(), key=lambda kv: (-kv[1].cost.total, kv[0]))
        return {
            "startMs": self.start_ms,
            "endMs": self.end_ms,
            "active": self.active(now_ms),
            **self.total.to_dict(),
            "totalTokens": int(self.tokens),
            "models": [{"key": m, **b.to_dict()} for m, b in models],
            "burnRate": None
            if rate is None
            else {"tokensPerMinute": rate[0], "usdPerHour": rate[1]},
            "projection": None
            if projected is None
            else {
                "tokens": projected[0],
                "usd": projected[1],
                "minutesLeft": max(0.0, self.end_ms - now_ms) / MINUTE_MS,
            },
            "limitShare": self.tokens / limit if limit else None,
            "projectionLimitShare": projected[0] / limit if limit and projected else None,
        }


@dataclass(slots=True)
class Blocks:
    """The blocks of some traffic, oldest first, and what was left out."""

    blocks: list[Block]
    read: int = 0
    """Requests seen, before the filters."""
    admitted: int = 0
    """Requests inside the filters (Claude's or not)."""
    others: dict[str, int] = field(default_factory=dict)
    """Requests inside the filters but not Claude's, per provider."""

    def active(self, now_ms: float) -> Block | None:
        """The block ``now_ms`` is in, if any."""
        return next((b for b in reversed(self.blocks) if b.active(now_ms)), None)

    def largest_past(self, now_ms: float) -> float | None:
        """The most tokens any block that has ended used (``None``: no block has)."""
        past = [b.tokens for b in self.blocks if b.end_ms <= now_ms]
        return max(past) if past else None


def blocks_of(
    requests: Iterable[Request], prices: PriceBook, filters: Filters | None = None
) -> Blocks:
    """Cut the Claude requests inside ``filters`` into 5-hour blocks (the requests may come
    in any order: they are sorted by time, a few numbers each)."""
    filters = filters or Filters()
    out = Blocks([])
    rows: list[tuple[float, int, str, tuple[float, ...], tuple[float, ...] | None]] = []
    for r in requests:
        out.read += 1
        if not filters.admits(r):
            continue
        out.admitted += 1
        if not is_claude(r):
            out.others[r.provider] = out.others.get(r.provider, 0) + 1
            continue
        rates = prices.rates(
            r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
        )
        cost = as_row(cost_of(r.tokens, rates)) if rates is not None else None
        rows.append((r.timestamp_ms, len(rows), r.model, as_row(r.tokens), cost))
    rows.sort()
    block: Block | None = None
    for ms, _, model, counts, cost in rows:
        if block is None or ms >= block.end_ms:
            block = Block(ms // HOUR_MS * HOUR_MS, ms, ms)
            out.blocks.append(block)
        block.last_ms = ms
        block.total.add(counts, cost, ms)
        block.models.setdefault(model, Bucket()).add(counts, cost, ms)
    return out


FIT: Final[Fit] = (
    ("models", 32),
    ("end", 0),
    ("requests", 0),
    ("usd/h", 0),
    ("models", 0),
    ("tokens/min", 0),
)
"""The order in which the blocks table narrows to the width: the models column is
abbreviated to 32 characters, then end, requests, usd/h, models and tokens/min go."""


def _short_model(model: str) -> str:
    return model.removeprefix("claude-")


def render_blocks(
    found: Blocks,
    now_ms: float,
    zone: tzinfo,
    *,
    limit: float | None = None,
    limit_source: str = "",
    only_active: bool = False,
    width: int | None = None,
) -> str:
    """The blocks as a table (or only the active one), the active block's projection and
    a warning when it exceeds ``limit`` tokens; every line at most ``width`` wide."""
    active = found.active(now_ms)
    shown = found.blocks
    if only_active:
        shown = [active] if active is not None else []
    out = []
    source = f" ({limit_source})" if limit_source else ""
    limit_text = f", token limit {tokens(limit)}{source}" if limit else ""
    out.append(f"5-hour blocks, {zone_name(zone)}{limit_text}:")
    if not shown:
        ends = [b.end_ms for b in found.blocks if b.end_ms <= now_ms]
        ended = f" (the last ended {clock(ends[-1], zone, seconds=False)})" if ends else ""
        out.append(f"  No active block{ended}.")
    headers = ["start", "end", "state", "requests", "tokens", "usd"]
    if limit:
        headers.append("limit")
    headers += ["tokens/min", "usd/h", "models"]
    rows: list[list[object]] = []
    previous: Block | None = None
    for b in shown:
        if previous is not None and b.start_ms > previous.end_ms:
            idle = duration((b.start_ms - previous.end_ms) / 1000)
            rows.append([f"(idle {idle})", *([""] * (len(headers) - 1))])
        previous = b
        rate = b.burn_rate()
        cells: list[object] = [
            clock(b.start_ms, zone, seconds=False),
            clock(b.end_ms, zone, seconds=False)[11:],  # five hours on: the time says it
            "active" if b is active else "done" if b.end_ms <= now_ms else "ahead",
            b.total.requests,
            tokens(b.tokens),
            usd(b.usd) if b.total.requests > b.total.unpriced else "-",
        ]
        if limit:
            cells.append(percent(b.tokens / limit))
        cells += [
            tokens(rate[0]) if rate else "-",
            usd(rate[1]) if rate else "-",
            ", ".join(_short_model(m) for m in sorted(b.models)),
        ]
        rows.append(cells)
    if rows:
        out.append(table(headers, rows, "  ", width=width, fit=FIT))
    if active is not None:
        out.extend(_active_lines(active, now_ms, zone, limit))
    if found.others:
        names = ", ".join(f"{n:,} {p}" for p, n in sorted(found.others.items()))
        out.append("")
        out.append(f"Not in blocks (the 5-hour windows are Claude's): {names} requests.")
    return fit_lines("\n".join(out), width) + "\n"


def _active_lines(b: Block, now_ms: float, zone: tzinfo, limit: float | None) -> list[str]:
    left = duration(max(0.0, b.end_ms - now_ms) / 1000)
    lines = [
        "",
        f"Active block: {clock(b.start_ms, zone, seconds=False)} to "
        f"{clock(b.end_ms, zone, seconds=False)}, {left} left",
        f"  So far: {tokens(b.tokens)} tokens, {usd(b.usd)}"
        + (f" ({percent(b.tokens / limit)} of the limit)" if limit else ""),
    ]
    rate = b.burn_rate()
    projected = b.projection(now_ms)
    if rate is None or projected is None:
        lines.append("  Burn rate: not yet (one moment of requests so far).")
        return lines
    lines.append(f"  Burn rate: {tokens(rate[0])} tokens/min, {usd(rate[1])}/h")
    share = f" ({percent(projected[0] / limit)} of the limit)" if limit else ""
    lines.append(
        f"  Projected by the end: {tokens(projected[0])} tokens, {usd(projected[1])}{share}"
    )
    if limit and projected[0] > limit:
        lines.append(
            f"WARNING: the projection exceeds the token limit of {tokens(limit)} "
            f"by {tokens(projected[0] - limit)} tokens."
        )
    return lines
