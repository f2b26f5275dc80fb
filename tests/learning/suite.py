"""The regret suite: synthetic streams whose shape decides between 5m, 1h and keep-warm.

Each stream is a Claude Code-like conversation on one model: a first request writes the
whole prefix, every later one reads it and appends a few hundred tokens. The recorded
usage is what a 5m-only client would have been billed (replay reconstructs the prefixes
from it), priced with the card below, so every figure is exact and needs no price
database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.replay.run import OPTIMUM, Replay
from racs.traffic.model import Block, Request

MODEL = "claude-sonnet-4-5"
CARD = Pricing(
    input_per_mtok=3.0,
    cache_read_per_mtok=0.3,
    cache_write_5m_per_mtok=3.75,
    cache_write_1h_per_mtok=6.0,
    output_per_mtok=15.0,
)
T0_MS = 1_767_225_600_000.0
FIVE_MINUTES = 300.0
BLOCK = 512
"""Tokens per Mooncake block."""


def prices() -> PriceBook:
    """The suite's prices: Anthropic's list card of the model, no database."""
    return PriceBook({MODEL: CARD}, database=False)


@dataclass(frozen=True)
class Shape:
    """One synthetic stream: the gaps between its requests and what each adds."""

    name: str
    gaps_s: tuple[float, ...]
    first_tokens: int = 50_000
    """The prefix the first request writes (system prompt, tools, context)."""
    growth: int = 300
    """Tokens each later request appends to the prefix (the last turn and tool result)."""
    output: int = 200

    def requests(self, session: str | None = None) -> list[Request]:
        """The stream as traffic: usage a 5m-only client would have been billed."""
        name = session or self.name
        out = []
        t = T0_MS
        prefix = self.first_tokens
        alive_until = -1.0
        for i, gap in enumerate((0.0, *self.gaps_s)):
            t += gap * 1000
            if i:
                prefix += self.growth
            read = prefix - self.growth if i and t <= alive_until else 0
            tokens = Tokens(fresh=10, read=read, write_5m=prefix - read, output=self.output)
            alive_until = t + FIVE_MINUTES * 1000
            out.append(Request(t, "anthropic", MODEL, tokens, name, name, source=f"{name}:{i}"))
        return out


def _burst(n: int, every_s: float = 5.0) -> list[float]:
    return [every_s] * n


def shapes() -> list[Shape]:
    """The suite (see the README's learned-reuse section for the figures)."""
    issue = _burst(84)
    issue[4] = 2400.0  # the fifth gap: a 40-minute pause, then never again
    alternating: list[float] = []
    for k in range(16):
        alternating += _burst(24) + ([1500.0] if k < 15 else [])
    thinking = [5.0, 5.0, 40.0, 5.0, 150.0] * 24  # tool calls, reading, a few minutes' thought
    return [
        Shape("issue 27: one 40-min pause early", tuple(issue), 50_000, 235),
        Shape("steady 2 min", tuple([120.0] * 119), 20_000, 400),
        Shape("steady 4.5 min", tuple([270.0] * 119), 20_000, 400),
        Shape("steady 10 min, a day", tuple([600.0] * 143), 20_000, 400, 1000),
        Shape("steady 20 min, a day", tuple([1200.0] * 71), 20_000, 400, 1000),
        Shape("cron 7 min, a day", tuple([420.0] * 204), 20_000, 300, 300),
        Shape("bursts of 25, 25-min pauses", tuple(alternating), 30_000, 200),
        Shape("pauses only at its end", tuple(thinking), 40_000, 300),
    ]


def all_requests(items: Iterable[Shape]) -> list[Request]:
    """Every shape's requests, one session each, in order."""
    out: list[Request] = []
    for shape in items:
        out += shape.requests()
    return out


def names(items: Sequence[Shape]) -> list[str]:
    """The shapes' names."""
    return [s.name for s in items]


def mooncake(path: Path) -> list[Request]:
    """The Mooncake trace's conversations as Anthropic streams (their timings and lengths).

    A request continues the conversation of the earlier request it shares the most
    512-token blocks with, beyond the first block every request shares (the system
    prompt), when that request is the conversation's latest; otherwise it starts one.
    Conversations of one request are left out (no gap to learn from, nothing to decide
    but the first write). Usage is what a 5m-only client would have been billed.
    """
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows.append(
                    (
                        float(row["timestamp"]),
                        int(row["input_length"]),
                        int(row.get("output_length", 0)),
                        tuple(row["hash_ids"]),
                    )
                )
    latest: dict[tuple[int, ...], int] = {}
    stream_of: list[int] = []
    last_of: dict[int, int] = {}
    count = 0
    for i, (_, _, _, ids) in enumerate(rows):
        parent = None
        for n in range(len(ids), 1, -1):
            parent = latest.get(ids[:n])
            if parent is not None:
                break
        if parent is not None and last_of[stream_of[parent]] == parent:
            s = stream_of[parent]
        else:
            s, count = count, count + 1
        stream_of.append(s)
        last_of[s] = i
        for n in range(1, len(ids) + 1):
            latest[ids[:n]] = i
    members: dict[int, list[int]] = {}
    for i, s in enumerate(stream_of):
        members.setdefault(s, []).append(i)
    out: list[Request] = []
    for s, idx in members.items():
        if len(idx) < 2:
            continue
        name = f"mooncake-{s}"
        prev_ids: tuple[int, ...] = ()
        alive_until = -1.0
        for k, i in enumerate(idx):
            t_rel, length, output, ids = rows[i]
            t = T0_MS + t_rel
            # Whole blocks only: the last, partial block changes as the conversation grows
            # (its id does too), so it is sent uncached, as a prompt's volatile tail.
            whole = ids[: length // BLOCK]
            blocks = tuple(Block(str(h), BLOCK) for h in whole)
            cacheable = len(whole) * BLOCK
            shared = 0
            for a, b in zip(prev_ids, ids, strict=False):
                if a != b:
                    break
                shared += 1
            read = min(shared * BLOCK, cacheable) if t <= alive_until else 0
            tokens = Tokens(
                fresh=length - cacheable, read=read, write_5m=cacheable - read, output=output
            )
            alive_until = t + FIVE_MINUTES * 1000
            prev_ids = whole
            out.append(
                Request(
                    t, "anthropic", MODEL, tokens, name, name, source=f"{name}:{k}", blocks=blocks
                )
            )
    return out


@dataclass(frozen=True)
class Row:
    """One stream under one setting: the fixed tiers, learned and the optimum (USD)."""

    stream: str
    setting: str
    five: float
    hour: float
    learned: float
    optimum: float
    none: float

    @property
    def best(self) -> float:
        """The better fixed tier for this stream, in hindsight."""
        return min(self.five, self.hour)

    @property
    def excess(self) -> float:
        """Learned above the better fixed tier, as a share of the stream's optimum."""
        return (self.learned - self.best) / self.optimum


def rows(result: Replay) -> list[Row]:
    """Every stream of a replay (run with ``5m``, ``1h`` and ``learned``) in every setting."""
    out = []
    for setting in result.settings:
        for s in result.streams:
            c = s.costs[setting]
            out.append(
                Row(
                    s.key.rsplit("@", 1)[0],
                    setting,
                    c["5m"].total,
                    c["1h"].total,
                    c["learned"].total,
                    c[OPTIMUM].total,
                    c["none"].total,
                )
            )
    return out


def captured(items: Sequence[Row], cost: Callable[[Row], float]) -> float:
    """(no cache - cost) / (no cache - optimum) over ``items``."""
    none = sum(r.none for r in items)
    return (none - sum(cost(r) for r in items)) / (none - sum(r.optimum for r in items))


def table(items: Sequence[Row]) -> str:
    """The rows as a Markdown table, then the totals per setting."""
    lines = [
        "| stream | setting | 5m only | 1h only | learned | optimum | learned - better fixed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in items:
        lines.append(
            f"| {r.stream} | {r.setting} | ${r.five:.4f} | ${r.hour:.4f} | ${r.learned:.4f} "
            f"| ${r.optimum:.4f} | {r.excess:+.2%} of optimum |"
        )
    for setting in dict.fromkeys(r.setting for r in items):
        part = [r for r in items if r.setting == setting]
        lines.append(
            f"| total | {setting} | {captured(part, lambda r: r.five):.2%} | "
            f"{captured(part, lambda r: r.hour):.2%} | {captured(part, lambda r: r.learned):.2%}"
            f" | better fixed per stream {captured(part, lambda r: r.best):.2%} | "
            f"{sum(r.excess > 0.01 for r in part)} of {len(part)} streams above +1% |"
        )
    return "\n".join(lines)
